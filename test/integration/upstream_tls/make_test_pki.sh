#!/bin/sh
# A throwaway PKI for TLS tests, in DIR: ca.pem (the test CA), server.pem/server.key for
# 127.0.0.1 and localhost, client.pem/client.key (a client certificate), and other-ca.pem,
# a CA nobody's certificates are signed by. EC P-256 keys, valid two days.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=tributary test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 -subj "/CN=untrusted test CA"
leaf() { # name subject extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 \
    -extfile "$1.ext" 2>/dev/null
}
leaf server /CN=localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
# No CN: etcd's JSON gateway with auth enabled answers 400 to a client certificate with one.
leaf client "/O=tributary test client" "extendedKeyUsage=clientAuth"
