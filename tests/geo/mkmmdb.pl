#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# Writes the MaxMind DB fixtures for the geo tests into the directory $ARGV[0]:
# city.mmdb (GeoIP2-City shape, zh-CN/en names, some missing), city2.mmdb
# (same addresses, other names: for reload), isp.mmdb (GeoIP2-ISP shape),
# asn.mmdb (GeoLite2-ASN shape, IPv4-only tree).
use strict;
use warnings;
use utf8;
use MaxMind::DB::Writer::Tree;

my $dir = shift or die "usage: $0 DIR\n";

my %types = (
	city => 'map', country => 'map', registered_country => 'map',
	subdivisions => [ 'array', 'map' ], names => 'map',
	iso_code => 'utf8_string', en => 'utf8_string',
	'zh-CN' => 'utf8_string', geoname_id => 'uint32',
	isp => 'utf8_string', organization => 'utf8_string',
	autonomous_system_organization => 'utf8_string',
	autonomous_system_number => 'uint32',
);

sub tree {
	my ($type, $ipv) = @_;
	return MaxMind::DB::Writer::Tree->new(
		ip_version => $ipv, record_size => 28, database_type => $type,
		languages => [ 'en', 'zh-CN' ], description => { en => 'itm test' },
		map_key_type_callback => sub { $types{ $_[0] } },
		remove_reserved_networks => 0, alias_ipv6_to_ipv4 => $ipv == 6,
	);
}

sub names { my ($en, $zh) = @_; my %n = (en => $en); $n{'zh-CN'} = $zh if defined $zh; return { names => \%n } }

sub write_tree {
	my ($t, $name) = @_;
	open my $fh, '>:raw', "$dir/$name" or die "$dir/$name: $!";
	$t->write_tree($fh);
	close $fh;
}

sub country { my ($cc, $en, $zh) = @_; return { %{ names($en, $zh) }, iso_code => $cc } }

# Places that city.mmdb and city2.mmdb describe differently, for the rule
# that combines databases (a city never under another database's province)
# and the names of places abroad.
my %places = (
	'city.mmdb' => {
		# a city without its state
		'7.7.0.0/24' => [ 'US', undef, [ 'Dallas', '达拉斯' ] ],
		'7.7.1.0/24' => [ 'CA', undef, [ 'Hamilton', '哈密尔顿' ] ],
		# a state without its city
		'7.7.2.0/24' => [ 'US', [ 'Colorado', '科罗拉多州' ], undef ],
		'7.7.3.0/24' => [ 'US', [ 'Colorado', '科罗拉多州' ], undef ] },
	'city2.mmdb' => {
		# another city, in another state
		'7.7.0.0/24' => [ 'US', [ 'Florida', '佛罗里达州' ], [ 'Orlando', '奥兰多' ] ],
		# the same city, its province in short
		'7.7.1.0/24' => [ 'CA', [ 'Ontario', '安大略' ], [ 'Hamilton', '哈密尔顿' ] ],
		# a city without a state: which state is unknown
		'7.7.2.0/24' => [ 'US', undef, [ 'Denver', '丹佛' ] ],
		# the same state, the city with 市
		'7.7.3.0/24' => [ 'US', [ 'Colorado', '科罗拉多州' ], [ 'Denver', '丹佛市' ] ] },
);
my %country = (US => [ 'United States', '美国' ], CA => [ 'Canada', '加拿大' ]);

sub city {
	my ($name, $prov, $city) = @_;
	my $t = tree('GeoIP2-City', 6);
	for my $net (sort keys %{ $places{$name} }) {
		my ($cc, $sub, $cty) = @{ $places{$name}{$net} };
		my %r = (country => country($cc, @{ $country{$cc} }));
		$r{subdivisions} = [ names(@$sub) ] if $sub;
		$r{city} = names(@$cty) if $cty;
		$t->insert_network($net, \%r);
	}
	# full record, both languages
	$t->insert_network('1.2.3.0/24', {
		country => names('China', '中国'),
		subdivisions => [ names('Jiangsu', $prov) ],
		city => names('Nanjing', $city) });
	# English only: no zh-CN province or city (not mixed in)
	$t->insert_network('5.6.7.0/24', {
		country => names('United States', '美国'),
		subdivisions => [ names('California') ],
		city => names('Mountain View') });
	# country only; city and subdivisions missing
	$t->insert_network('9.9.9.0/24', { country => names('Germany', '德国') });
	# only registered_country (anycast-style)
	$t->insert_network('11.0.0.0/24', { registered_country => names('Japan', '日本') });
	# IPv6
	$t->insert_network('2001:250::/32', {
		country => names('China', '中国'),
		subdivisions => [ names('Beijing', '北京市') ],
		city => names('Beijing', '北京市') });
	write_tree($t, $name);
}

city('city.mmdb', '江苏省', '南京市');
city('city2.mmdb', '浙江省', '杭州市');

my $isp = tree('GeoIP2-ISP', 6);
$isp->insert_network('1.2.3.0/24', { isp => 'China Telecom', autonomous_system_organization => 'CHINANET-BACKBONE', autonomous_system_number => 4134 });
$isp->insert_network('5.6.7.0/24', { autonomous_system_organization => 'Example Networks LLC', autonomous_system_number => 64500 });
$isp->insert_network('2001:250::/32', { isp => 'CERNET2 IX', autonomous_system_number => 23910 });
write_tree($isp, 'isp.mmdb');

my $asn = tree('GeoLite2-ASN', 4);
$asn->insert_network('1.2.3.0/24', { autonomous_system_organization => 'China Unicom China169 Backbone', autonomous_system_number => 4837 });
$asn->insert_network('9.9.9.0/24', { autonomous_system_organization => 'CHINA MOBILE communications corporation', autonomous_system_number => 9808 });
write_tree($asn, 'asn.mmdb');
