package control

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

// The AWS wire form of SendSSHPublicKey (AWS JSON 1.1), so the AWS CLI and SDKs push to the
// emulator exactly as to the service, signature and all:
// aws ec2-instance-connect send-ssh-public-key --endpoint-url http://127.0.0.1:8169 ...
const (
	awsTarget      = "AWSEC2InstanceConnectService.SendSSHPublicKey"
	awsContentType = "application/x-amz-json-1.1"
	minRSABits     = 2048
)

// The service's errors, with the HTTP status its model gives each (the SDKs pick the
// exception by __type; the status decides what they retry).
const (
	errAuth          = "AuthException"                // 403
	errInvalidArgs   = "InvalidArgsException"         // 400
	errNotFound      = "EC2InstanceNotFoundException" // 404
	errThrottling    = "ThrottlingException"          // 429
	errService       = "ServiceException"             // 500
	errSerialization = "SerializationException"       // 400 (the protocol's, not in the model)
	errUnknownOp     = "UnknownOperationException"    // 400 (the protocol's, not in the model)
)

// zonePattern is the model's AvailabilityZone constraint (with 6..32 characters).
var zonePattern = regexp.MustCompile(`^(\w+-){2,3}\d+\w+$`)

type awsPush struct {
	InstanceID       *string `json:"InstanceId"`
	InstanceOSUser   *string `json:"InstanceOSUser"`
	SSHPublicKey     *string `json:"SSHPublicKey"`
	AvailabilityZone *string `json:"AvailabilityZone"`
}

type awsPushAnswer struct {
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
}

// awsError is one AWS JSON error answer.
type awsError struct {
	status int
	kind   string
	msg    string
}

// sendSSHPublicKey answers POST / as the service does: authenticate (SigV4), then the
// operation, the throttle, the body, the arguments, the instance; then push. #Caller is
// always emulator.DefaultCaller: the emulator has no accounts.
func (s *server) sendSSHPublicKey(w http.ResponseWriter, r *http.Request) {
	res, e := s.awsPush(r)
	if e != nil {
		id, _ := emulator.NewRequestID() // an error answer without an id is still an answer
		w.Header().Set("X-Amzn-Requestid", id)
		w.Header().Set("X-Amzn-ErrorType", e.kind)
		writeJSONAs(w, awsContentType, e.status, map[string]string{"__type": e.kind, "Message": e.msg})
		return
	}
	w.Header().Set("X-Amzn-Requestid", res.RequestID)
	writeJSONAs(w, awsContentType, http.StatusOK, res)
}

func (s *server) awsPush(r *http.Request) (awsPushAnswer, *awsError) {
	// The signature covers the body, so read it (bounded by guard) before anything else.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return awsPushAnswer{}, &awsError{http.StatusRequestEntityTooLarge, errSerialization,
				fmt.Sprintf("request body is over %d KiB", MaxBody>>10)}
		}
		return awsPushAnswer{}, &awsError{http.StatusBadRequest, errSerialization, "read request body: " + err.Error()}
	}
	if err := verifySigV4(r.Context(), r, body, s.creds, s.emu.Region(), s.now()); err != nil {
		return awsPushAnswer{}, &awsError{http.StatusForbidden, errAuth, err.Error()}
	}
	if t := r.Header.Get("X-Amz-Target"); t != awsTarget {
		return awsPushAnswer{}, &awsError{http.StatusBadRequest, errUnknownOp,
			fmt.Sprintf("X-Amz-Target %.100q is not %s", t, awsTarget)}
	}
	if s.emu.Faults().ThrottlePush {
		return awsPushAnswer{}, &awsError{http.StatusTooManyRequests, errThrottling, "Rate exceeded (the emulator's throttle_push fault)"}
	}
	var req awsPush
	if herr := decodeBytes(r, body, awsContentType, &req); herr != nil {
		return awsPushAnswer{}, &awsError{herr.status, errSerialization, herr.msg}
	}
	p, e := s.checkAWSPush(req)
	if e != nil {
		return awsPushAnswer{}, e
	}
	id, err := s.emu.Push(p)
	switch {
	case errors.Is(err, emulator.ErrInvalidArgs):
		return awsPushAnswer{}, &awsError{http.StatusBadRequest, errInvalidArgs, err.Error()}
	case err != nil:
		return awsPushAnswer{}, &awsError{http.StatusInternalServerError, errService, err.Error()}
	}
	s.logf("pushed a key for %s through SendSSHPublicKey, request id %s", p.OSUser, id)
	return awsPushAnswer{RequestID: id, Success: true}, nil
}

// checkAWSPush validates the arguments as the service does, stricter than the emulator's own
// push: every field but the zone is required, the key must be RSA of 2048 bits or more or
// Ed25519, and the instance must be this one.
func (s *server) checkAWSPush(req awsPush) (emulator.Push, *awsError) {
	invalid := func(format string, args ...any) *awsError {
		return &awsError{http.StatusBadRequest, errInvalidArgs, fmt.Sprintf(format, args...)}
	}
	required := []struct {
		name string
		v    *string
	}{{"InstanceId", req.InstanceID}, {"InstanceOSUser", req.InstanceOSUser}, {"SSHPublicKey", req.SSHPublicKey}}
	for _, f := range required {
		if f.v == nil {
			return emulator.Push{}, invalid("%s is required", f.name)
		}
	}
	if n := len(*req.SSHPublicKey); n < 80 || n > 4096 {
		return emulator.Push{}, invalid("SSHPublicKey has %d characters, want 80..4096", n)
	}
	// The CLI sends file:// contents with their newline; the service takes them.
	p := emulator.Push{InstanceID: *req.InstanceID, OSUser: *req.InstanceOSUser,
		PublicKey: strings.TrimSpace(*req.SSHPublicKey)}
	if msg := keyPolicy(p.PublicKey); msg != "" {
		return emulator.Push{}, invalid("SSHPublicKey: %s", msg)
	}
	if err := emulator.ValidatePush(p); err != nil {
		return emulator.Push{}, invalid("%v", err)
	}
	zone := ""
	if req.AvailabilityZone != nil {
		zone = *req.AvailabilityZone
		if n := len(zone); n < 6 || n > 32 || !zonePattern.MatchString(zone) {
			return emulator.Push{}, invalid("AvailabilityZone %.40q must match %s with 6..32 characters", zone, zonePattern)
		}
	}
	if p.InstanceID != s.emu.InstanceID() {
		return emulator.Push{}, &awsError{http.StatusNotFound, errNotFound,
			fmt.Sprintf("Instance %s not found (this emulator serves %s)", p.InstanceID, s.emu.InstanceID())}
	}
	if zone != "" && zone != s.emu.Zone() {
		return emulator.Push{}, &awsError{http.StatusNotFound, errNotFound,
			fmt.Sprintf("Instance %s not found in availability zone %s (it is in %s)", p.InstanceID, zone, s.emu.Zone())}
	}
	return p, nil
}

// keyPolicy says why the service refuses key, or "" when it takes it: RSA of at least 2048
// bits and Ed25519 only (no ECDSA, DSA, security keys or certificates). The type is read
// from the line first, so a type x/crypto/ssh no longer parses (ssh-dss) is still named.
func keyPolicy(line string) string {
	typ, _, _ := strings.Cut(line, " ")
	switch typ {
	case ssh.KeyAlgoED25519:
		return ""
	case ssh.KeyAlgoRSA:
	default:
		return fmt.Sprintf("key type %.60q is not supported: use ssh-rsa (%d bits or more) or ssh-ed25519", typ, minRSABits)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "not an OpenSSH public key"
	}
	cpk, ok := k.(ssh.CryptoPublicKey)
	if !ok {
		return "unreadable RSA key"
	}
	if rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); !ok || rk.N.BitLen() < minRSABits {
		return fmt.Sprintf("RSA keys must have at least %d bits", minRSABits)
	}
	return ""
}
