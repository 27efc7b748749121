#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# Writes a GeoLite2-ASN shaped database to $ARGV[0] from lines on stdin:
#   FIRST<TAB>LAST<TAB>NUMBER<TAB>ORGANISATION   (IPv4, organisation may be
# empty), as sweep.py takes them from the real @ip-location-db/asn CSV.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb < ranges\n";
my %types = (
	autonomous_system_organization => 'utf8_string',
	autonomous_system_number => 'uint32',
);
my $t = MaxMind::DB::Writer::Tree->new(
	ip_version => 4, record_size => 32, database_type => 'GeoLite2-ASN',
	languages => ['en'], description => { en => 'itm sweep' },
	map_key_type_callback => sub { $types{ $_[0] } },
	remove_reserved_networks => 0,
);
binmode STDIN, ':encoding(UTF-8)';
while (my $l = <STDIN>) {
	chomp $l;
	my ($first, $last, $num, $org) = split /\t/, $l, 4;
	my %rec = (autonomous_system_number => $num);
	$rec{autonomous_system_organization} = $org if defined $org && $org ne '';
	$t->insert_range($first, $last, \%rec);
}
open my $fh, '>:raw', $out or die "$out: $!";
$t->write_tree($fh);
close $fh;
