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

sub city {
	my ($name, $prov, $city) = @_;
	my $t = tree('GeoIP2-City', 6);
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
