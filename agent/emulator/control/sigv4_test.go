package control

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testSignature = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"

func TestParseAuthorization(t *testing.T) {
	good := sigV4Algorithm + " Credential=" + testKeyID + "/20260101/us-east-1/ec2-instance-connect/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + testSignature
	tests := []struct {
		name string
		in   string
		want authorization
		err  string
	}{
		{"sdk-form", good, authorization{accessKeyID: testKeyID, date: "20260101", region: "us-east-1",
			service: "ec2-instance-connect", signedHeaders: "content-type;host;x-amz-date;x-amz-target", signature: testSignature}, ""},
		{"other-algorithm", strings.Replace(good, sigV4Algorithm, "AWS4-ECDSA-P256-SHA256", 1), authorization{}, "is not AWS4-HMAC-SHA256"},
		{"part-given-twice", good + ", Signature=" + testSignature, authorization{}, "malformed"},
		{"part-missing", strings.Replace(good, ", Signature="+testSignature, "", 1), authorization{}, "must have Credential"},
		{"extra-part", good + ", Extra=1", authorization{}, "must have Credential"},
		{"short-scope", strings.Replace(good, "/aws4_request", "", 1), authorization{}, "credential scope"},
		{"uppercase-signature", strings.Replace(good, testSignature, strings.ToUpper(testSignature), 1), authorization{}, "64 lowercase hex"},
		{"unsorted-signed-headers", strings.Replace(good, "content-type;host", "host;content-type", 1), authorization{}, "sorted, unique"},
		{"duplicate-signed-header", strings.Replace(good, "host;", "host;host;", 1), authorization{}, "sorted, unique"},
		{"empty-signed-header", strings.Replace(good, "host;", "host;;", 1), authorization{}, "sorted, unique"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAuthorization(tc.in)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(authorization{})); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseAuthorization: any header either parses into the shape the verifier relies on or
// is an error; it never panics.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(sigV4Algorithm + " Credential=" + testKeyID + "/20260101/us-east-1/ec2-instance-connect/aws4_request, " +
		"SignedHeaders=host;x-amz-date, Signature=" + testSignature)
	f.Add(sigV4Algorithm + " Credential=/////,SignedHeaders=;,Signature==")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			return
		}
		if !signaturePattern.MatchString(a.signature) || !signedHeadersPattern.MatchString(a.signedHeaders) ||
			strings.Contains(a.accessKeyID+a.date+a.region+a.service, "/") {
			t.Fatalf("parsed %q into %+v", h, a)
		}
	})
}
