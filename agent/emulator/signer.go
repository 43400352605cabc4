package emulator

import (
	"crypto/x509"
	"fmt"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// RevokeSigner makes every staple served for the current signer certificate say revoked
// (whatever staple fault is set, the response carries the revoked status). It cannot be
// undone: revocation belongs to the certificate, so only RotateSigner brings back a good
// signer, as on AWS.
func (e *Emulator) RevokeSigner() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revoked[pki.StapleName(e.pki.Signer.Cert)] = true
}

// RotateSigner replaces the signer key and certificate with fresh ones issued by the same
// intermediate under the same root, so trust stores built from RootPEM stay valid. The chain
// and staples served from now on follow the new certificate; blocks pushed before keep their
// signature by the old key and so fail verification, as they would after a rotation on AWS.
func (e *Emulator) RotateSigner() error {
	// Generating an RSA key is slow: do it outside the lock so requests keep being served.
	next, err := e.PKI().Rotate(e.cfg.Now())
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pki = next
	return nil
}

func (e *Emulator) isRevoked(cert *x509.Certificate) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.revoked[pki.StapleName(cert)]
}
