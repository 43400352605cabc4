package signer

import "fmt"

// Reason says why a signer was not trusted. Logs, tests and --explain use the same values.
type Reason string

// Reasons for rejecting a signer chain or its staples.
const (
	ReasonBadInput  Reason = "bad-input"       // the caller passed no roots, no expected name or no time
	ReasonBadChain  Reason = "bad-chain"       // the signer-cert document is not a clean PEM certificate chain
	ReasonUntrusted Reason = "untrusted-chain" // no chain to a trusted root at Now (includes expiry)
	ReasonWrongName Reason = "wrong-signer-name"
	// ReasonNameConstraint: a CA in the chain is constrained away from the signer's name.
	ReasonNameConstraint Reason = "signer-name-constrained"
	// ReasonUsage: a certificate in the chain does not allow any of signerUsages.
	ReasonUsage         Reason = "signer-usage-not-allowed"
	ReasonNotRSA        Reason = "signer-not-rsa"
	ReasonWeakKey       Reason = "signer-weak-key" // RSA key below MinRSABits
	ReasonStapleMissing Reason = "staple-missing"
	ReasonRevoked       Reason = "staple-revoked"
	ReasonUnknown       Reason = "staple-unknown"
	ReasonStale         Reason = "staple-stale"
	ReasonNotYetValid   Reason = "staple-not-yet-valid"
	ReasonBadSignature  Reason = "staple-bad-signature"
	ReasonMalformed     Reason = "staple-malformed"
)

// advice is the one thing an operator can do about each reason.
func (r Reason) advice() string {
	switch r {
	case ReasonBadInput:
		return "this is a bug in the caller, please report it"
	case ReasonBadChain:
		return "IMDS served a malformed signer-cert document; check for a proxy rewriting IMDS traffic"
	case ReasonUntrusted:
		return "check the system clock and that the trust store holds the issuing root (truststore in the config)"
	case ReasonWrongName:
		return "the certificate is not for this region and domain; check placement/region and services/domain, or suspect IMDS tampering"
	case ReasonNameConstraint:
		return "a CA in the chain may not issue the signer's name; suspect IMDS tampering or a mis-issued certificate"
	case ReasonUsage:
		return "a CA in the chain may not issue TLS certificates such as the signer; suspect IMDS tampering"
	case ReasonNotRSA:
		return "the service only signs with RSA; suspect IMDS tampering"
	case ReasonWeakKey:
		return "the service signs with RSA of at least 2048 bits; suspect IMDS tampering"
	case ReasonStapleMissing:
		return "IMDS served no OCSP staple for this certificate; retry later"
	case ReasonRevoked:
		return "the certificate is revoked; no key is trusted until IMDS serves a new signer"
	case ReasonUnknown:
		return "the OCSP responder does not know this certificate; retry later"
	case ReasonStale:
		return "check the system clock; if it is right, IMDS serves an old staple, retry later"
	case ReasonNotYetValid:
		return "check the system clock: it seems to be behind"
	case ReasonBadSignature:
		return "the staple is not signed by the issuer or its delegated OCSP responder; suspect IMDS tampering"
	case ReasonMalformed:
		return "IMDS served a broken OCSP staple; retry later"
	}
	return "please report this"
}

// Error is every error Verify returns.
type Error struct {
	Reason  Reason
	Subject string // subject CN of the certificate concerned; "" when the chain itself is at fault
	Detail  string // what exactly failed, without advice
	Err     error  // underlying error, if any
}

func (e *Error) Error() string {
	what := "signer chain"
	if e.Subject != "" {
		what = fmt.Sprintf("signer chain certificate %q", e.Subject)
	}
	return fmt.Sprintf("%s: %s: %s (%s)", what, e.Reason, e.Detail, e.Reason.advice())
}

func (e *Error) Unwrap() error { return e.Err }

func fail(r Reason, subject, format string, args ...any) *Error {
	return &Error{Reason: r, Subject: subject, Detail: fmt.Sprintf(format, args...)}
}
