#!/bin/sh
# mkvectors.sh SIGNER_DIR BUNDLE_DIR: build the OpenSSL-made test vectors (`make vectors`).
#
# Everything cryptographic is done by the openssl CLI (and ssh-keygen for the user keys), the way
# AWS's own unit tests make their fixtures, so that our Go verifier is checked against material it
# did not make itself. SIGNER_DIR receives certificates and OCSP staples for agent/signer's
# vectors_test.go, BUNDLE_DIR a saved signer, staples and key bundles for cmd/eic-authorized-keys's
# vectors_test.go; each gets a README naming every file. What each vector must do is kept by hand
# in the manifests beside them (agent/signer/testdata/*.tsv, cmd/eic-authorized-keys/testdata/
# bundles.tsv), so the file names here are their contract. Both directories are wiped and
# rewritten; keys are random, the structure is fixed. Private keys never leave the temporary
# directory.
#
# Times: certificates are valid from now for 100 years; the tests verify at the fixed time written
# to `now` (generation + 1 day). OpenSSL's own OCSP check reads the real clock, so every staple's
# verdict must be the same at `now` and at any later real time: good staples run 100 years, the
# stale one ended a minute after generation.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 SIGNER_DIR BUNDLE_DIR" >&2; exit 2; }
out=$1
bout=$2
command -v openssl >/dev/null || { echo "mkvectors: openssl not found; install it (apt-get install openssl)" >&2; exit 1; }
command -v ssh-keygen >/dev/null || { echo "mkvectors: ssh-keygen not found; install openssh-client" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
rm -rf "$out" "$bout"
mkdir -p "$out" "$bout"

NAME=managed-ssh-signer.us-east-1.amazonaws.com
OTHER_NAME=managed-ssh-signer.eu-west-1.amazonaws.com
DAYS=36500
gen=$(date +%s)
now=$((gen + 86400))
printf '%s\n' "$now" > "$out/now"

# README lines, one per file, in the order the files are made.
readme="$work/README"
doc() { printf '%-34s %s\n' "$1" "$2" >> "$readme"; }

# Certificate profiles. Every CA has critical basicConstraints and keyUsage and key identifiers,
# every leaf an AKI, so that openssl verify -x509_strict refuses a chain only for the reason a case
# is about.
ca_profile() {
	printf '[%s]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' "$1"
	printf 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n%s\n\n' "$2"
}
leaf_profile() {
	printf '[%s]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, %s\n' "$1" "$2"
	printf 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n%s\n\n' "$3"
}
signer_usage="digitalSignature, keyEncipherment"
{
	printf '[root]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n'
	printf 'subjectKeyIdentifier = hash\n\n'
	ca_profile ca ""
	ca_profile nc_evil "nameConstraints = critical, permitted;DNS:.evil.example"
	ca_profile nc_excl "nameConstraints = critical, excluded;DNS:amazonaws.com"
	ca_profile nc_ok "nameConstraints = critical, permitted;DNS:amazonaws.com"
	ca_profile eku_email "extendedKeyUsage = emailProtection"
	ca_profile eku_server "extendedKeyUsage = serverAuth"
	leaf_profile notca "digitalSignature, keyCertSign" ""
	leaf_profile leaf "$signer_usage" "extendedKeyUsage = serverAuth, clientAuth"
	leaf_profile leaf_san "$signer_usage" "extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$NAME"
	leaf_profile leaf_othersan "$signer_usage" "extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$OTHER_NAME"
	leaf_profile leaf_extrasan "$signer_usage" "extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:www.example.com, DNS:$NAME"
	leaf_profile responder digitalSignature "extendedKeyUsage = OCSPSigning"
	leaf_profile responder_noeku digitalSignature ""
} > "$work/ext.cnf"

# openssl ca is only used for certificates with fixed dates in the past.
mkdir "$work/newcerts"
: > "$work/ca.index"
cat > "$work/ca.cnf" <<EOF
[ca]
default_ca = dated
[dated]
database = $work/ca.index
new_certs_dir = $work/newcerts
serial = $work/ca.serial
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
EOF

# Serials are unique across the whole set, so one OCSP index serves every CA.
serial=4096
index="$work/index"
: > "$index"

# csr NAME CN: a fresh RSA 2048 key and a certificate request for subject CN.
csr() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$work/$1.key" -subj "/CN=$2" -out "$work/$1.csr" 2>/dev/null
}

# index_add NAME: record a certificate as valid in the responder's index.
index_add() {
	s=$(openssl x509 -noout -serial -in "$work/$1.pem" | sed 's/^serial=//')
	printf 'V\t%s\t\t%s\tunknown\t/CN=%s\n' 21000101000000Z "$s" "$1" >> "$index"
}

# selfsigned NAME CN EXT: a self-signed CA.
selfsigned() {
	serial=$((serial + 1))
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$work/$1.key" -subj "/CN=$2" -days $DAYS \
		-set_serial "$serial" -config "$work/ext.cnf" -extensions "$3" -out "$work/$1.pem" 2>/dev/null
	index_add "$1"
}

# issue NAME CN ISSUER EXT: a certificate valid for 100 years from now.
issue() {
	serial=$((serial + 1))
	csr "$1" "$2"
	openssl x509 -req -in "$work/$1.csr" -CA "$work/$3.pem" -CAkey "$work/$3.key" -set_serial "$serial" \
		-days $DAYS -sha256 -extfile "$work/ext.cnf" -extensions "$4" -out "$work/$1.pem" 2>/dev/null
	index_add "$1"
}

# issue_expired NAME CN ISSUER EXT: a certificate that was valid in 2000 only.
issue_expired() {
	serial=$((serial + 1))
	csr "$1" "$2"
	printf '%X\n' "$serial" > "$work/ca.serial"
	openssl ca -batch -config "$work/ca.cnf" -cert "$work/$3.pem" -keyfile "$work/$3.key" -in "$work/$1.csr" \
		-startdate 20000101000000Z -enddate 20010101000000Z -extfile "$work/ext.cnf" -extensions "$4" \
		-notext -out "$work/$1.pem" 2>/dev/null
	index_add "$1"
}

# publish NAME DESCRIPTION: copy a certificate into the vector set.
publish() {
	cp "$work/$1.pem" "$out/$1.pem"
	doc "$1.pem" "$2"
}

# inside NAME DESCRIPTION: a certificate that is not published: it only travels in the certs
# field of the staples that name it.
inside() {
	doc "($1)" "$2; only inside staples"
}

# --- The hierarchy ---------------------------------------------------------------------------
selfsigned root "EIC Vectors Root" root
publish root "the only trust anchor of every case"
issue inter "EIC Vectors Intermediate" root ca
publish inter "intermediate CA issued by root; issues the signers and the delegated responders"
issue signer "$NAME" inter leaf_san
publish signer "the signer: CN and DNS SAN $NAME"
issue signer-nosan "$NAME" inter leaf
publish signer-nosan "a signer without any SAN (the name is the CN alone)"
issue signer-othersan "$NAME" inter leaf_othersan
publish signer-othersan "CN is the expected name, the only DNS SAN is $OTHER_NAME"
issue signer-sanonly "$OTHER_NAME" inter leaf_san
publish signer-sanonly "CN is $OTHER_NAME, the DNS SAN is the expected name"
issue signer-extrasan "$NAME" inter leaf_extrasan
publish signer-extrasan "SANs www.example.com and the expected name"

issue resp "EIC Vectors OCSP Responder" inter responder
inside resp "delegated responder: issued by inter, id-kp-OCSPSigning"
issue resp-noeku "EIC Vectors Responder Without EKU" inter responder_noeku
inside resp-noeku "issued by inter, no extended key usage at all"
issue_expired resp-expired "EIC Vectors Expired Responder" inter responder
inside resp-expired "issued by inter, id-kp-OCSPSigning, valid in 2000 only"
issue resp-byroot "EIC Vectors Root's Responder" root responder
inside resp-byroot "id-kp-OCSPSigning, issued by root: a responder for root's certificates, not inter's"
selfsigned other-root "EIC Vectors Untrusted Root" root
inside other-root "a root nobody trusts; also the junk certificate in signer.junk.der"
issue resp-byother "EIC Vectors Foreign Responder" other-root responder
inside resp-byother "id-kp-OCSPSigning, issued by other-root"
# The impostor has inter's exact subject and its own key: it can sign, it cannot be inter.
selfsigned fake-inter "EIC Vectors Intermediate" root
publish fake-inter "impostor: self-signed, inter's subject, another key"
issue resp-forged "EIC Vectors Forged Responder" fake-inter responder
inside resp-forged "id-kp-OCSPSigning, names inter as issuer but was signed by fake-inter"
issue other-signer "$NAME" other-root leaf_san
publish other-signer "a signer issued by other-root (untrusted chain)"

for nc in nc-evil nc-excl nc-ok; do
	ext=$(printf '%s' "$nc" | tr - _)
	issue "$nc" "EIC Vectors $nc CA" root "$ext"
	issue "$nc-signer" "$NAME" "$nc" leaf_san
	issue "$nc-signer-nosan" "$NAME" "$nc" leaf
done
publish nc-evil "sub-CA of root, name constraints: permitted DNS .evil.example only"
publish nc-evil-signer "signer issued by nc-evil, DNS SAN = CN"
publish nc-evil-signer-nosan "signer issued by nc-evil, no SAN"
publish nc-excl "sub-CA of root, name constraints: excluded DNS amazonaws.com"
publish nc-excl-signer "signer issued by nc-excl, DNS SAN = CN"
publish nc-excl-signer-nosan "signer issued by nc-excl, no SAN"
publish nc-ok "sub-CA of root, name constraints: permitted DNS amazonaws.com"
publish nc-ok-signer "signer issued by nc-ok, DNS SAN = CN"
publish nc-ok-signer-nosan "signer issued by nc-ok, no SAN"

issue eku-email "EIC Vectors E-mail CA" root eku_email
issue eku-email-signer "$NAME" eku-email leaf_san
issue eku-server "EIC Vectors TLS Server CA" root eku_server
issue eku-server-signer "$NAME" eku-server leaf_san
issue eku-none "EIC Vectors Unrestricted CA" root ca
issue eku-none-signer "$NAME" eku-none leaf_san
publish eku-email "sub-CA of root limited to emailProtection"
publish eku-email-signer "signer issued by eku-email"
publish eku-server "sub-CA of root limited to serverAuth"
publish eku-server-signer "signer issued by eku-server"
publish eku-none "sub-CA of root without extended key usage"
publish eku-none-signer "signer issued by eku-none"

issue_expired inter-expired "EIC Vectors Expired Intermediate" root ca
issue inter-expired-signer "$NAME" inter-expired leaf_san
issue inter-notca "EIC Vectors Not A CA" root notca
issue inter-notca-signer "$NAME" inter-notca leaf_san
publish inter-expired "intermediate issued by root, valid in 2000 only"
publish inter-expired-signer "signer issued by inter-expired"
publish inter-notca "issued by root with CA:FALSE"
publish inter-notca-signer "signer issued by inter-notca"

# --- Staples -----------------------------------------------------------------------------------
# Indexes: every certificate valid; signer and inter revoked; only the root known (so every other
# serial is "unknown").
revoked="$work/index-revoked"
for n in signer inter; do
	s=$(openssl x509 -noout -serial -in "$work/$n.pem" | sed 's/^serial=//')
	printf 'R\t21000101000000Z\t%s,keyCompromise\t%s\tunknown\t/CN=%s\n' \
		"$(date -u +%y%m%d%H%M%SZ)" "$s" "$n" >> "$revoked"
done
grep -v "/CN=signer\$" "$index" | grep -v "/CN=inter\$" >> "$revoked"
unknown="$work/index-unknown"
grep "/CN=root\$" "$index" > "$unknown"

long="-ndays $DAYS"

# staple OUT CERT ISSUER RSIGNER INDEX CERTID-HASH [responder flags...]: ask about CERT as issued
# by ISSUER (CertID hashed with CERTID-HASH), answer from INDEX as RSIGNER.
staple() {
	o=$1 c=$2 i=$3 r=$4 idx=$5 md=$6
	shift 6
	openssl ocsp -no_nonce -issuer "$work/$i.pem" "-$md" -cert "$work/$c.pem" -reqout "$work/req.der" >/dev/null
	openssl ocsp -index "$idx" -CA "$work/$i.pem" -rsigner "$work/$r.pem" -rkey "$work/$r.key" \
		-reqin "$work/req.der" -respout "$out/$o.der" "$@" >/dev/null 2>&1
	[ -s "$out/$o.der" ] || { echo "mkvectors: openssl made no $o.der" >&2; exit 1; }
}

cat "$work/root.pem" > "$work/inter-chain.pem"
cat "$work/other-root.pem" "$work/fake-inter.pem" > "$work/junk.pem"

staple signer.good signer inter inter "$index" sha1 $long
doc signer.good.der "signer good, signed by inter, certs=[inter] (openssl -rsigner CA's default), SHA-1 CertID"
staple signer.nocerts signer inter inter "$index" sha1 $long -resp_no_certs
doc signer.nocerts.der "signer good, signed by inter, certs empty"
staple signer.chain signer inter inter "$index" sha1 $long -rother "$work/inter-chain.pem"
doc signer.chain.der "signer good, signed by inter, certs=[inter, root]"
staple signer.junk signer inter inter "$index" sha1 $long -rother "$work/junk.pem"
doc signer.junk.der "signer good, signed by inter, certs=[inter, other-root, fake-inter]"
staple signer.keyid signer inter inter "$index" sha1 $long -resp_key_id
doc signer.keyid.der "signer good, signed by inter, ResponderID by key hash"
staple signer.sha256 signer inter inter "$index" sha256 $long
doc signer.sha256.der "signer good, signed by inter, SHA-256 CertID"
staple signer.delegated signer inter resp "$index" sha1 $long
doc signer.delegated.der "signer good, signed by resp, certs=[resp]"
staple signer.delegated-noeku signer inter resp-noeku "$index" sha1 $long
doc signer.delegated-noeku.der "signer good, signed by resp-noeku"
staple signer.delegated-expired signer inter resp-expired "$index" sha1 $long
doc signer.delegated-expired.der "signer good, signed by resp-expired"
staple signer.delegated-byroot signer inter resp-byroot "$index" sha1 $long
doc signer.delegated-byroot.der "signer good, signed by resp-byroot (root's responder answering for inter)"
staple signer.delegated-byother signer inter resp-byother "$index" sha1 $long
doc signer.delegated-byother.der "signer good, signed by resp-byother"
staple signer.delegated-forged signer inter resp-forged "$index" sha1 $long -rother "$work/fake-inter.pem"
doc signer.delegated-forged.der "signer good, signed by resp-forged, certs=[resp-forged, fake-inter]"
staple signer.impostor signer inter fake-inter "$index" sha1 $long
doc signer.impostor.der "signer good, signed by fake-inter: ResponderID names inter, another key signed"
staple signer.byroot signer inter root "$index" sha1 $long
doc signer.byroot.der "signer good, signed by root (inter's issuer, not signer's)"
staple signer.otherissuer signer root root "$index" sha1 $long
doc signer.otherissuer.der "signer's serial, but the CertID names root as issuer; signed by root"
staple signer.revoked signer inter inter "$revoked" sha1 $long
doc signer.revoked.der "signer revoked (keyCompromise), signed by inter"
staple signer.unknown signer inter inter "$unknown" sha1 $long
doc signer.unknown.der "signer unknown, signed by inter"
staple signer.stale signer inter inter "$index" sha1 -nmin 1
doc signer.stale.der "signer good, signed by inter, nextUpdate one minute after generation"
staple signer.nonext signer inter inter "$index" sha1
doc signer.nonext.der "signer good, signed by inter, no nextUpdate"
staple signer-nosan.good signer-nosan inter inter "$index" sha1 $long
doc signer-nosan.good.der "signer-nosan good, signed by inter (a wrong serial for signer)"
staple inter.good inter root root "$index" sha1 $long
doc inter.good.der "inter good, signed by root, certs=[root]"
staple inter.revoked inter root root "$revoked" sha1 $long
doc inter.revoked.der "inter revoked, signed by root"
for ca in nc-evil nc-ok eku-server; do
	staple "$ca.good" "$ca" root root "$index" sha1 $long
	doc "$ca.good.der" "$ca good, signed by root"
	staple "$ca-signer.good" "$ca-signer" "$ca" "$ca" "$index" sha1 $long
	doc "$ca-signer.good.der" "$ca-signer good, signed by $ca"
done
staple nc-evil-signer-nosan.good nc-evil-signer-nosan nc-evil nc-evil "$index" sha1 $long
doc nc-evil-signer-nosan.good.der "nc-evil-signer-nosan good, signed by nc-evil"
staple nc-ok-signer-nosan.good nc-ok-signer-nosan nc-ok nc-ok "$index" sha1 $long
doc nc-ok-signer-nosan.good.der "nc-ok-signer-nosan good, signed by nc-ok"

# --- Key bundles for cmd/eic-authorized-keys (its testdata/bundles.tsv says what each must do) --
# A saved case as support would save it from IMDS: the chain, the staples named as IMDS names
# them (uppercase hex SHA-1 of the certificate, and SHA-256 as IMDS once did), the root.
INSTANCE=i-0123456789abcdef0
OTHER_INSTANCE=i-0fedcba9876543210
printf '%s\n' "$now" > "$bout/now"
printf '%s\n' "$INSTANCE" > "$bout/instance-id"
printf '%s\n' "$NAME" > "$bout/expected-signer"
cp "$work/root.pem" "$bout/root.pem"
cat "$work/signer.pem" "$work/inter.pem" > "$bout/chain.pem"
fp() { openssl x509 -noout -fingerprint "-$2" -in "$work/$1.pem" | sed 's/^.*=//; s/://g'; }
mkdir "$bout/ocsp" "$bout/ocsp-revoked"
openssl base64 -A -in "$out/signer.good.der" > "$bout/ocsp/$(fp signer sha1)"
openssl base64 -A -in "$out/inter.good.der" > "$bout/ocsp/$(fp inter sha256)"
openssl base64 -A -in "$out/signer.revoked.der" > "$bout/ocsp-revoked/$(fp signer sha1)"
cp "$bout/ocsp/$(fp inter sha256)" "$bout/ocsp-revoked/"

for k in rsa ed25519 ecdsa other; do
	case $k in
	rsa) opts="-t rsa -b 2048" ;;
	ecdsa) opts="-t ecdsa -b 256" ;;
	*) opts="-t ed25519" ;;
	esac
	# shellcheck disable=SC2086 # opts is a list of words
	ssh-keygen -q $opts -N '' -C "$k@vectors" -f "$work/user-$k"
	cp "$work/user-$k.pub" "$bout/$k.pub"
done
# A key nobody trusts, for a signature that is well formed but not the signer's.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/stranger.key" 2>/dev/null

far=$((now + DAYS * 86400))

# block FILE SIGNKEY LINE...: append one block signed over LINE... (each followed by \n), with a
# blank line before it unless it is the first. A line starting with "^" is signed but not shown,
# one starting with "!" shown but not signed: the way to make a block changed after signing.
block() {
	f=$1 k=$2
	shift 2
	: > "$work/signed"
	: > "$work/shown"
	for l in "$@"; do
		case $l in
		^*) printf '%s\n' "${l#^}" >> "$work/signed" ;;
		!*) printf '%s\n' "${l#!}" >> "$work/shown" ;;
		*) printf '%s\n' "$l" >> "$work/signed"; printf '%s\n' "$l" >> "$work/shown" ;;
		esac
	done
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
		-sign "$work/$k.key" -out "$work/sig" "$work/signed"
	[ ! -s "$f" ] || echo >> "$f"
	{ cat "$work/shown"; openssl base64 -in "$work/sig"; } >> "$f"
}
key() { cat "$work/user-$1.pub"; }

b="$bout/bundles"
mkdir "$b"
block "$b/valid" signer "#Timestamp=$far" "#Instance=$INSTANCE" "#Caller=arn:aws:iam::123456789012:user/alice" \
	"#Request=11111111-1111-4111-8111-111111111111" "$(key rsa)"
block "$b/ed25519" signer "#Timestamp=$far" "#Instance=$INSTANCE" "#Caller=arn:aws:iam::123456789012:user/alice" \
	"#Request=22222222-2222-4222-8222-222222222222" "$(key ed25519)"
block "$b/ecdsa" signer "#Timestamp=$far" "#Instance=$INSTANCE" "#Caller=arn:aws:iam::123456789012:user/alice" \
	"#Request=33333333-3333-4333-8333-333333333333" "$(key ecdsa)"
block "$b/expired" signer "#Timestamp=$((now - 3600))" "#Instance=$INSTANCE" \
	"#Caller=arn:aws:iam::123456789012:user/alice" "#Request=44444444-4444-4444-8444-444444444444" "$(key rsa)"
block "$b/expires-now" signer "#Timestamp=$now" "#Instance=$INSTANCE" \
	"#Caller=arn:aws:iam::123456789012:user/alice" "#Request=55555555-5555-4555-8555-555555555555" "$(key rsa)"
block "$b/other-instance" signer "#Timestamp=$far" "#Instance=$OTHER_INSTANCE" \
	"#Caller=arn:aws:iam::123456789012:user/alice" "#Request=66666666-6666-4666-8666-666666666666" "$(key rsa)"
block "$b/changed-after-signing" signer "#Timestamp=$far" "#Instance=$INSTANCE" \
	"^#Caller=arn:aws:iam::123456789012:user/alice" "!#Caller=arn:aws:iam::123456789012:user/mallory" \
	"#Request=77777777-7777-4777-8777-777777777777" "$(key rsa)"
block "$b/other-signer" stranger "#Timestamp=$far" "#Instance=$INSTANCE" \
	"#Caller=arn:aws:iam::123456789012:user/alice" "#Request=88888888-8888-4888-8888-888888888888" "$(key rsa)"
block "$b/missing-timestamp" signer "#Instance=$INSTANCE" "#Caller=arn:aws:iam::123456789012:user/alice" \
	"#Request=99999999-9999-4999-8999-999999999999" "$(key rsa)"
block "$b/missing-instance" signer "#Timestamp=$far" "#Caller=arn:aws:iam::123456789012:user/alice" \
	"#Request=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" "$(key rsa)"
block "$b/unknown-field" signer "#Timestamp=$far" "#Instance=$INSTANCE" "#Future=field the service may add" \
	"#Caller=arn:aws:iam::123456789012:user/alice" "#Request=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb" "$(key ed25519)"
# bundles.tsv's mixed cases list the verdicts of these blocks in this order.
for f in valid expired missing-timestamp other-instance changed-after-signing ed25519; do
	[ ! -s "$b/mixed" ] || echo >> "$b/mixed"
	cat "$b/$f" >> "$b/mixed"
done
cat "$b/valid" > "$b/duplicate"
echo >> "$b/duplicate"
cat "$b/valid" >> "$b/duplicate"

cat > "$bout/README" <<EOF
A saved EC2 Instance Connect case for cmd/eic-authorized-keys's vectors_test.go. Generated by
agent/signer/testdata/mkvectors.sh (make vectors); do not edit by hand. What each bundle must do:
../bundles.tsv.

now               the Unix time to verify at (--now)
instance-id       this instance (--instance-id)
expected-signer   the signer's expected CN (--expected-signer)
root.pem          the trust anchor (--ca)
chain.pem         signer-cert as IMDS serves it: the signer, then its intermediate
ocsp/             good staples, base64, named as IMDS names them: the signer's by the uppercase hex
                  SHA-1 of its DER, the intermediate's by SHA-256 (as IMDS once did)
ocsp-revoked/     the same with the signer revoked
rsa.pub ed25519.pub ecdsa.pub
                  the user keys the bundles carry
other.pub         a key no bundle carries, for a fingerprint that matches nothing
bundles/valid, ed25519, ecdsa
                  one valid block for each key type
bundles/expired, expires-now
                  #Timestamp an hour before now, and exactly now (expiry must be in the future)
bundles/other-instance
                  #Instance is $OTHER_INSTANCE
bundles/changed-after-signing
                  #Caller changed after the signer signed
bundles/other-signer
                  signed by an RSA key that is not the signer's
bundles/missing-timestamp, missing-instance
                  the block lacks that field
bundles/unknown-field
                  an extra #Future= field, signed with the rest
bundles/mixed     valid, expired, missing-timestamp, other-instance, changed-after-signing, ed25519
bundles/duplicate valid twice
EOF

{
	echo "OpenSSL-made vectors for agent/signer. Generated by agent/signer/testdata/mkvectors.sh"
	echo "(make vectors); do not edit by hand. Verify at the Unix time in 'now'."
	echo "What each must do: ../staples.tsv, ../chains.tsv, ../verify.tsv (columns in their headers)."
	echo
	cat "$readme"
} > "$out/README"
echo "mkvectors: wrote $(ls "$out" | wc -l) files to $out and $(find "$bout" -type f | wc -l) to $bout"
