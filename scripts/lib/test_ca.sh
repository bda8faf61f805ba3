# Sourced (not run): throwaway certificate authorities and certificates for loopback TLS, made
# with the `openssl` command. The TLS tests (test/support/test_pki.cc) and scripts/bench.sh both
# make theirs here, so a test and the benchmark serve certificates of the same shape.
# Every function fails (non-zero, openssl's own output on stderr) when a command fails.

# make_key FILE TYPE: an unencrypted private key; TYPE is ec (ECDSA P-256) or rsa (RSA 2048).
make_key() {
  case "$2" in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
    *) echo "make_key: unknown key type '$2' (ec or rsa)" >&2 && return 2 ;;
  esac
}

# make_ca DIR NAME: DIR/NAME.crt and DIR/NAME.key, a self-signed ECDSA P-256 CA valid 30 days.
make_ca() {
  local dir="$1" name="$2"
  mkdir -p "$dir" &&
    make_key "$dir/$name.key" ec &&
    openssl req -x509 -new -key "$dir/$name.key" -days 30 -subj "/CN=ttlogin test $name" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/$name.crt"
}

# make_cert DIR CA NAME DAYS TYPE: DIR/NAME.crt (signed by DIR/CA.crt, for DNS localhost and IP
# 127.0.0.1, valid DAYS days; -1 makes one that expired yesterday), DIR/NAME.key (TYPE as in
# make_key) and DIR/NAME.chain.crt (the certificate followed by the CA's: what a server serves).
make_cert() {
  local dir="$1" ca="$2" name="$3" days="$4" type="$5"
  make_key "$dir/$name.key" "$type" &&
    openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" &&
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$dir/$name.ext" &&
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
      -CAcreateserial -days "$days" -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null &&
    cat "$dir/$name.crt" "$dir/$ca.crt" >"$dir/$name.chain.crt"
}

# make_test_ca DIR: the benchmark's set, an ECDSA P-256 CA and server certificate valid 30 days:
#   ca.crt, ca.key, server.crt, server.key, server.chain.crt.
# Every file is readable by all: nginx's worker reads them after dropping root.
make_test_ca() {
  local dir="$1"
  make_ca "$dir" ca &&
    make_cert "$dir" ca server 30 ec &&
    chmod 644 "$dir"/*.crt "$dir"/*.key
}
