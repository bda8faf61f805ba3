# Sourced (not run): a throwaway certificate authority for loopback TLS, made with the `openssl`
# command. scripts/bench.sh serves the same certificate from our server and from nginx with it.

# make_test_ca DIR: writes into DIR
#   ca.crt, ca.key          a self-signed ECDSA P-256 CA, valid 30 days;
#   server.crt, server.key  an ECDSA P-256 certificate it signs, for DNS localhost and IP 127.0.0.1;
#   server-chain.crt        server.crt followed by ca.crt (what a server serves).
# Every file is readable by all: nginx's worker reads them after dropping root. Fails (non-zero,
# openssl's own output on stderr) when a command fails.
make_test_ca() {
  local dir="$1"
  mkdir -p "$dir"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null &&
    openssl req -x509 -new -key "$dir/ca.key" -days 30 -subj "/CN=ttlogin bench CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.crt" &&
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/server.key" \
      2>/dev/null &&
    openssl req -new -key "$dir/server.key" -subj "/CN=localhost" -out "$dir/server.csr" &&
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$dir/server.ext" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 30 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null &&
    cat "$dir/server.crt" "$dir/ca.crt" >"$dir/server-chain.crt" &&
    chmod 644 "$dir"/*.crt "$dir"/*.key
}
