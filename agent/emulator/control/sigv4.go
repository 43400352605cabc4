package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigV4 as the service checks it. The signature is recomputed with the SDK's own signer over
// a copy of the request holding only the headers the client says it signed; nothing here
// derives a key or computes an HMAC.
const (
	// SigningService is the SigV4 service name of EC2 Instance Connect.
	SigningService = "ec2-instance-connect"
	// MaxClockSkew is how far X-Amz-Date may be from the emulator's clock, either way, as
	// AWS allows: an older request is a replay, a later one was signed by a wrong clock.
	MaxClockSkew = 5 * time.Minute

	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	maxAuthHeader   = 4096
	scopeTerminator = "aws4_request"
)

// signedHeadersPattern: lowercase names, sorted and unique (checked apart), ';'-separated.
var (
	signedHeadersPattern = regexp.MustCompile(`^[a-z0-9-]+(;[a-z0-9-]+)*$`)
	signaturePattern     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// mustSign are the headers a request must have signed: without them a signature would let
// an attacker change the operation, the body's type or the time after the fact.
var mustSign = []string{"content-type", "host", "x-amz-date", "x-amz-target"}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders, signature           string
}

func parseAuthorization(h string) (authorization, error) {
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return authorization{}, fmt.Errorf("the Authorization header is not %s", sigV4Algorithm)
	}
	parts := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if _, dup := parts[k]; !ok || dup {
			return authorization{}, fmt.Errorf("the Authorization header is malformed")
		}
		parts[k] = v
	}
	cred, signed, sig := parts["Credential"], parts["SignedHeaders"], parts["Signature"]
	if len(parts) != 3 || cred == "" || signed == "" || sig == "" {
		return authorization{}, fmt.Errorf("the Authorization header must have Credential, SignedHeaders and Signature")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != scopeTerminator {
		return authorization{}, fmt.Errorf("the credential scope must be KEYID/DATE/REGION/SERVICE/%s", scopeTerminator)
	}
	if !signaturePattern.MatchString(sig) {
		return authorization{}, fmt.Errorf("the signature must be 64 lowercase hex digits")
	}
	names := strings.Split(signed, ";")
	if !signedHeadersPattern.MatchString(signed) || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		return authorization{}, fmt.Errorf("SignedHeaders must be sorted, unique, lowercase header names separated by ;")
	}
	return authorization{accessKeyID: scope[0], date: scope[1], region: scope[2], service: scope[3],
		signedHeaders: signed, signature: sig}, nil
}

// verifySigV4 checks that r, whose whole body is body, was signed with creds for the
// service in region within MaxClockSkew of now. The error says why not, for AuthException.
func verifySigV4(ctx context.Context, r *http.Request, body []byte, creds Credentials, region string, now time.Time) error {
	if creds.AccessKeyID == "" {
		return errNoCredentials
	}
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return fmt.Errorf("the request is not signed (no Authorization header): sign it with SigV4")
	case len(hs) > 1 || len(hs[0]) > maxAuthHeader:
		return fmt.Errorf("the Authorization header is malformed")
	}
	a, err := parseAuthorization(hs[0])
	if err != nil {
		return err
	}
	switch {
	case a.accessKeyID != creds.AccessKeyID:
		return fmt.Errorf("the access key id %.40q is unknown to this emulator", a.accessKeyID)
	case a.service != SigningService:
		return fmt.Errorf("the credential scope names service %.40q, want %s", a.service, SigningService)
	case a.region != region:
		return fmt.Errorf("the credential scope names region %.40q, but this endpoint is %s", a.region, region)
	}
	signedAt, err := amzDate(r)
	if err != nil {
		return err
	}
	if skew := now.Sub(signedAt); skew > MaxClockSkew || skew < -MaxClockSkew {
		return fmt.Errorf("signature expired or not yet valid: X-Amz-Date %s is more than %v from the service's clock %s",
			signedAt.Format(amzDateFormat), MaxClockSkew, now.UTC().Format(amzDateFormat))
	}
	if a.date != signedAt.Format("20060102") {
		return fmt.Errorf("the credential scope's date %.16q is not X-Amz-Date's day", a.date)
	}
	names := strings.Split(a.signedHeaders, ";")
	for _, h := range mustSign {
		if !slices.Contains(names, h) {
			return fmt.Errorf("header %s must be signed", h)
		}
	}
	if err := checkSessionToken(r, creds, names); err != nil {
		return err
	}
	want, err := resign(ctx, r, body, names, creds, region, signedAt)
	if err != nil {
		return err
	}
	if want.signedHeaders != a.signedHeaders {
		return fmt.Errorf("the signed headers %q cannot be verified (the signer would sign %q)", a.signedHeaders, want.signedHeaders)
	}
	if subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return fmt.Errorf("the request signature does not match: check the secret access key, and that nothing changed the request after signing")
	}
	return nil
}

func amzDate(r *http.Request) (time.Time, error) {
	ds := r.Header.Values("X-Amz-Date")
	if len(ds) != 1 {
		return time.Time{}, fmt.Errorf("the request needs exactly one X-Amz-Date header")
	}
	t, err := time.Parse(amzDateFormat, ds[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("X-Amz-Date %.40q is not %s", ds[0], amzDateFormat)
	}
	return t, nil
}

// checkSessionToken: temporary credentials need their token on every request, signed; and
// a token sent to credentials that have none is as wrong as a wrong one.
func checkSessionToken(r *http.Request, creds Credentials, signed []string) error {
	toks := r.Header.Values("X-Amz-Security-Token")
	switch {
	case creds.SessionToken == "" && len(toks) > 0:
		return fmt.Errorf("the request carries a session token, but these credentials have none")
	case creds.SessionToken == "":
		return nil
	case len(toks) != 1 || subtle.ConstantTimeCompare([]byte(toks[0]), []byte(creds.SessionToken)) != 1:
		return fmt.Errorf("the security token included in the request is invalid")
	case !slices.Contains(signed, "x-amz-security-token"):
		return fmt.Errorf("header x-amz-security-token must be signed")
	}
	return nil
}

// resign signs a copy of r holding only the signed headers, at the time r says it was
// signed, and returns what the Authorization header should have said.
func resign(ctx context.Context, r *http.Request, body []byte, names []string, creds Credentials,
	region string, at time.Time) (authorization, error) {
	cp := &http.Request{
		Method: r.Method, Host: r.Host, Header: http.Header{},
		URL: &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	for _, n := range names {
		switch n {
		case "host":
			continue // the signer takes it from cp.Host
		case "content-length":
			cp.ContentLength = int64(len(body)) // the signer signs the length it is told
			continue
		}
		vs := r.Header.Values(n)
		if len(vs) == 0 {
			return authorization{}, fmt.Errorf("signed header %s is missing", n)
		}
		cp.Header[http.CanonicalHeaderKey(n)] = vs
	}
	if h := cp.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return authorization{}, fmt.Errorf("X-Amz-Content-Sha256 is not the body's hash")
	}
	c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
		SessionToken: creds.SessionToken}
	if err := v4.NewSigner().SignHTTP(ctx, c, cp, payloadHash, SigningService, region, at); err != nil {
		return authorization{}, fmt.Errorf("recompute the signature: %w", err)
	}
	return parseAuthorization(cp.Header.Get("Authorization"))
}
