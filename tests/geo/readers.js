// SPDX-License-Identifier: MIT
// Independent readers for the sweep test: reads addresses (one a line) on
// stdin and prints, tab-separated, what the npm reader says about each:
//   node readers.js qqwry FILE   ->  ip \t Country \t Area
//   node readers.js ipdb FILE    ->  ip \t country_name \t region_name \t
//                                    city_name \t isp_domain \t country_code
// A field the reader has no answer for is empty; "-" marks "not found".
// Run with NODE_PATH pointing at the node_modules the fetch script fills.
'use strict';
const fs = require('fs');

const kind = process.argv[2], file = process.argv[3];
const tab = (s) => String(s === undefined || s === null ? '' : s)
	.replace(/[\t\n\r\\]/g, (c) => ({'\t': '\\t', '\n': '\\n',
		'\r': '\\r', '\\': '\\\\'}[c]));
let find;
if (kind === 'qqwry') {
	const q = require('lib-qqwry')(true, file);
	find = (ip) => {
		const r = q.searchIP(ip);
		return [r.Country, r.Area];
	};
} else if (kind === 'ipdb') {
	const IPDB = require('ipdb');
	const d = new IPDB(fs.readFileSync(file));
	find = (ip) => {
		const r = d.find(ip, {language: 'CN'});
		if (!r || r.code !== 0 || !r.data)
			return ['-'];
		const x = r.data;
		return [x.country_name, x.region_name, x.city_name,
			x.isp_domain, x.country_code];
	};
} else {
	process.stderr.write('usage: readers.js qqwry|ipdb FILE < addresses\n');
	process.exit(2);
}
const out = [];
for (const ip of fs.readFileSync(0, 'utf8').split('\n')) {
	if (!ip)
		continue;
	let f;
	try {
		f = find(ip);
	} catch (e) {
		f = ['-'];
	}
	out.push([ip].concat(f).map(tab).join('\t'));
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
