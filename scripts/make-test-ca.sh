#!/usr/bin/env bash
# Makes a throwaway certificate authority and certificates for trying
# mixsweepd with TLS and mutual TLS (tests, a lab's first setup). Not for
# production: the CA's key lies next to what it signed.
#
#   scripts/make-test-ca.sh OUTDIR [SERVER_NAME]   # SERVER_NAME: default localhost
#
# OUTDIR (made if missing; must be empty) then holds:
#   ca.pem, ca.key           the CA: clients' --tls-ca, and mixsweepd's
#                            --tls-client-ca for mutual TLS
#   server.pem, server.key   mixsweepd's --tls-cert and --tls-key, valid for
#                            SERVER_NAME, localhost and 127.0.0.1
#   client.pem, client.key   a client certificate (clientAuth) for mutual TLS:
#                            the worker's or CLI's --tls-cert and --tls-key
#   other-ca.pem, other-client.pem, other-client.key
#                            an unrelated CA and a client certificate it
#                            signed, which a server trusting ca.pem refuses
# EC P-256 keys (mode 0600), certificates valid for 30 days. Needs openssl.
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [SERVER_NAME]" >&2
  exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
OUTDIR=$1
SERVER_NAME=${2:-localhost}
if [ -z "$OUTDIR" ] || [ -z "$SERVER_NAME" ]; then usage; fi
DAYS=30

command -v openssl >/dev/null || { echo "$0: needs the openssl command" >&2; exit 1; }
if [ -e "$OUTDIR" ] && [ ! -d "$OUTDIR" ]; then
  echo "$0: $OUTDIR exists and is not a directory" >&2
  exit 1
fi
mkdir -p "$OUTDIR"
if [ -n "$(ls -A "$OUTDIR")" ]; then
  echo "$0: $OUTDIR is not empty; refusing to overwrite (use a new directory)" >&2
  exit 1
fi

# Everything is made in a scratch directory and moved into OUTDIR at the end,
# so a failure leaves OUTDIR empty and the script can simply be run again.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/make-test-ca.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
umask 077  # keys are born 0600

# The server name as a subjectAltName entry: an IP address or a DNS name.
san_entry() {
  if [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $1 == *:* ]]; then
    echo "IP:$1"
  else
    echo "DNS:$1"
  fi
}
SAN=$(san_entry "$SERVER_NAME")
for extra in DNS:localhost IP:127.0.0.1; do
  [ "$SAN" = "$extra" ] || SAN="$SAN,$extra"
done

new_key() {  # FILE
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

new_ca() {  # NAME CN: NAME.pem, NAME.key
  new_key "$WORK/$1.key"
  openssl req -x509 -new -sha256 -days "$DAYS" -key "$WORK/$1.key" -out "$WORK/$1.pem" \
    -subj "/O=mixsweep test/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

issue() {  # NAME CN CA EXTENSIONS: NAME.pem, NAME.key signed by CA
  new_key "$WORK/$1.key"
  openssl req -new -sha256 -key "$WORK/$1.key" -out "$WORK/$1.csr" -subj "/O=mixsweep test/CN=$2"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" "$4" > "$WORK/$1.ext"
  openssl x509 -req -sha256 -days "$DAYS" -in "$WORK/$1.csr" -CA "$WORK/$3.pem" \
    -CAkey "$WORK/$3.key" -set_serial "0x$(openssl rand -hex 16)" -extfile "$WORK/$1.ext" \
    -out "$WORK/$1.pem" 2>/dev/null
  rm -f "$WORK/$1.csr" "$WORK/$1.ext"
  openssl verify -CAfile "$WORK/$3.pem" "$WORK/$1.pem" >/dev/null
}

new_ca ca "mixsweep test CA"
issue server "$SERVER_NAME" ca $'extendedKeyUsage=serverAuth\nsubjectAltName='"$SAN"
issue client "mixsweep test client" ca "extendedKeyUsage=clientAuth"
new_ca other-ca "unrelated test CA"
issue other-client "unrelated test client" other-ca "extendedKeyUsage=clientAuth"
rm -f "$WORK/other-ca.key"  # nothing more is signed with it

chmod 0644 "$WORK"/*.pem
mv "$WORK"/* "$OUTDIR"/
echo "test CA in $OUTDIR: server certificate for $SAN (valid $DAYS days)"
