#!/bin/bash
# Test certificates for TLS to an HTTPS proxy (issue 14), made at test time with the openssl CLI
# so that no private key is ever committed.
#
# Usage: tlscerts.sh DIR NAME [WRONG_NAME]
#   DIR must exist (the caller makes it, e.g. with mktemp -d, and removes it afterwards).
#   NAME is the proxy's host name; WRONG_NAME (default wrong.NAME) another one.
# Writes into DIR (keys mode 0600, EC P-256 for speed):
#   ca.pem ca.key          the test CA (trusted by the tests through proxy.ca_file)
#   other-ca.pem           a CA nobody trusts
#   server.pem server.key  NAME, issued by the CA (valid for 30 days)
#   untrusted.pem .key     NAME, issued by the other CA
#   expired.pem .key       NAME, issued by the CA, valid only on 1-2 Jan 2020
#   future.pem .key        NAME, issued by the CA, valid from 2099 on
#   wrong.pem wrong.key    WRONG_NAME, issued by the CA
#   client.pem client.key  a client certificate (clientAuth) issued by the CA, for mTLS
#   ip.pem ip.key          the address 127.0.0.1 (subjectAltName IP), issued by the CA
#   hostile.pem .key       evil<ESC>[2Jname.example (an escape sequence in subjectAltName DNS),
#                          issued by the CA
# Each server certificate names its host in subjectAltName (DNS, or IP for ip.pem) and the CN.
set -euo pipefail
dir=${1:?usage: tlscerts.sh DIR NAME [WRONG_NAME]}
name=${2:?usage: tlscerts.sh DIR NAME [WRONG_NAME]}
wrong=${3:-wrong.$name}
cd "$dir"
umask 077

newkey() { # FILE
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

ca() { # NAME CN: a self-signed CA
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem" 2>/dev/null
}

# openssl ca (not x509 -req) because only it takes explicit validity dates (the expired one).
cat >ca.cnf <<EOF
[ca]
default_ca = kgca
[kgca]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[anything]
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::KG_SAN}
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF

issue() { # OUT CN ISSUER EXT [ca options]: subjectAltName DNS:CN (KG_SAN overrides)
	local out=$1 cn=$2 issuer=$3 ext=$4 san=${KG_SAN:-DNS:$2}
	shift 4
	: >index.txt
	[ -e serial ] || echo 1000 >serial
	newkey "$out.key"
	openssl req -new -key "$out.key" -subj "/CN=$cn" -out "$out.csr" 2>/dev/null
	KG_SAN=$san openssl ca -batch -notext -config ca.cnf -cert "$issuer.pem" -keyfile "$issuer.key" \
		-extensions "$ext" -in "$out.csr" -out "$out.pem" "$@" 2>/dev/null
	rm -f "$out.csr" ./*.old ./*.attr ./1*.pem
}

ca ca "KG Test Proxy CA"
ca other-ca "KG Untrusted CA"
issue server "$name" ca server -days 30
issue untrusted "$name" other-ca server -days 30
issue expired "$name" ca server -startdate 20200101000000Z -enddate 20200102000000Z
issue future "$name" ca server -startdate 20990101000000Z -enddate 20990102000000Z
issue wrong "$wrong" ca server -days 30
issue client "kg-test-client" ca client -days 30
KG_SAN=IP:127.0.0.1 issue ip 127.0.0.1 ca server -days 30
KG_SAN=$'DNS:evil\e[2Jname.example' issue hostile "evil.$name" ca server -days 30
rm -f other-ca.key index.txt serial ca.cnf
