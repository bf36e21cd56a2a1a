#!/usr/bin/env perl
# Seeds the SIP fuzz targets' corpora: the RFC 4475 torture messages
# (../shared/vectors/sip-torture) and every message our SIPp scenarios
# send (tests/sipp/*.xml, placeholders filled in as SIPp would).
# Usage: seed_sip.pl TORTURE_DIR SIPP_DIR CORPUS_DIR
use strict;
use warnings;

my ($torture, $sipp, $corpus) = @ARGV;
my %fill = (
  service => '123456789**4321', remote_ip => '192.0.2.1', remote_port => '5060',
  local_ip => '192.0.2.7', local_port => '5070', transport => 'UDP',
  branch => 'z9hG4bK-1-0', pid => '4242', call_number => '1',
  call_id => '1-4242@192.0.2.7', local_ip_type => '4', media_ip => '192.0.2.7',
  media_ip_type => '4', media_port => '6000', 'media_port+2' => '6002',
  peer_tag_param => ';tag=mra1',
  authentication => 'Authorization: Digest username="1001", realm="mra", '
    . 'nonce="abc", uri="sip:192.0.2.1", response="0123456789abcdef0123456789abcdef", '
    . 'algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz"',
);

sub slurp { local $/; open my $f, '<:raw', $_[0] or die "$_[0]: $!"; <$f> }
sub spit { open my $f, '>:raw', $_[0] or die "$_[0]: $!"; print $f $_[1]; }

my @messages;
for my $file (sort glob "$torture/*/*.dat") {
  my ($kind, $name) = $file =~ m{([^/]+)/([^/]+)\.dat$};
  push @messages, ["torture-$kind-$name", slurp($file)];
}
for my $file (sort glob "$sipp/*.xml") {
  my ($scenario) = $file =~ m{([^/]+)\.xml$};
  my $n = 0;
  for my $text (slurp($file) =~ m{<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>}sg) {
    $text =~ s/^\s*\n//;
    $text =~ s/\s+$//;
    $text =~ s/\[([a-z_+0-9]+)\]/exists $fill{$1} ? $fill{$1} : ($1 eq 'len' ? '[len]' : 'x')/ge;
    my ($head, $body) = split /\n\n/, $text, 2;
    $body = defined $body ? "$body\n" : '';
    $body =~ s/\r?\n/\r\n/g;
    $head =~ s/\r?\n/\r\n/g;
    my $len = length $body;
    $head =~ s/\[len\]/$len/g;
    push @messages, ["sipp-$scenario-" . $n++, "$head\r\n\r\n$body"];
  }
}

for my $m (@messages) {
  my ($name, $msg) = @$m;
  spit("$corpus/sip_core/$name", $msg);
  # TCP: the message twice in one stream, cut every 7 bytes and unbroken.
  spit("$corpus/sip_tcp/$name-7", chr(7) . $msg . $msg);
  spit("$corpus/sip_tcp/$name-all", chr(255) . $msg . "\r\n\r\n" . $msg);
  my ($head, $body) = split /\r?\n\r?\n/, $msg, 2;
  spit("$corpus/sdp/$name", $body) if defined $body && $body =~ /^v=/;
  my $i = 0;
  my ($request_uri) = $head =~ /^\S+ (\S+) SIP\//;
  spit("$corpus/sip_fields/$name-ruri", $request_uri) if defined $request_uri;
  for my $line (split /\r?\n/, $head) {
    next unless $line =~ /^(Via|v|From|f|To|t|Contact|m|Authorization|Proxy-Authorization)\s*:\s*(.*)$/i;
    spit("$corpus/sip_fields/$name-" . $i++, $2);
  }
}
