package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// ErrInvalidArgs is what SendSSHPublicKey calls InvalidArgsException: Push wraps it for every
// argument the service would refuse.
var ErrInvalidArgs = errors.New("invalid arguments")

// Servings keep an expired block this long after its #Timestamp, so tests can watch the
// verifier reject it before it disappears.
const expiredGrace = time.Minute

// The service's documented constraints on SendSSHPublicKey.
var (
	instanceIDPattern = regexp.MustCompile(`^i-[a-f0-9]+$`)
	osUserPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`)
)

// Push is one SendSSHPublicKey call.
type Push struct {
	// InstanceID defaults to the emulator's; another id makes a block for another instance.
	InstanceID string
	OSUser     string
	// PublicKey is one OpenSSH public key line ("TYPE BASE64 [comment]"), stored verbatim.
	PublicKey string
	// TTL defaults to Config.KeyTTL; a negative TTL pushes an already expired key.
	TTL time.Duration
	// Caller is the IAM principal recorded in #Caller (default DefaultCaller).
	Caller string
	// Extra are additional "#Name=Value" metadata lines, signed like the others.
	Extra []string
	// WrapSignature wraps the base64 signature at this many columns (0: one line).
	WrapSignature int
}

// Push validates p as SendSSHPublicKey does and stores a signed block for p.OSUser. It returns
// the block's request id. Any key type OpenSSH parses is accepted, even ones today's service
// refuses, so the verifier can be tested beyond it.
func (e *Emulator) Push(p Push) (string, error) {
	if p.InstanceID == "" {
		p.InstanceID = e.cfg.InstanceID
	}
	if p.Caller == "" {
		p.Caller = DefaultCaller
	}
	if p.TTL == 0 {
		p.TTL = e.cfg.KeyTTL
	}
	if err := ValidatePush(p); err != nil {
		return "", err
	}
	id, err := NewRequestID()
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	expires := e.cfg.Now().Add(p.TTL)
	lines := []string{
		"#Timestamp=" + strconv.FormatInt(expires.Unix(), 10),
		"#Instance=" + p.InstanceID,
		"#Caller=" + p.Caller,
		"#Request=" + id,
	}
	lines = append(lines, p.Extra...)
	lines = append(lines, p.PublicKey)
	text, err := e.signBlock(lines, p.WrapSignature)
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.blocks[p.OSUser] = append(e.blocks[p.OSUser], block{expires: expires, text: text})
	return id, nil
}

// ValidatePush checks p as Push does, after Push's defaults, and returns an error wrapping
// ErrInvalidArgs for the first argument the service would refuse.
func ValidatePush(p Push) error {
	if n := len(p.InstanceID); n < 10 || n > 32 || !instanceIDPattern.MatchString(p.InstanceID) {
		return fmt.Errorf("push: %w: InstanceId %q must match %s with 10..32 characters",
			ErrInvalidArgs, p.InstanceID, instanceIDPattern)
	}
	if n := len(p.OSUser); n < 1 || n > 32 || !osUserPattern.MatchString(p.OSUser) {
		return fmt.Errorf("push: %w: InstanceOSUser %q must match %s with 1..32 characters",
			ErrInvalidArgs, p.OSUser, osUserPattern)
	}
	if n := utf8.RuneCountInString(p.PublicKey); n < 80 || n > 4096 {
		return fmt.Errorf("push: %w: SSHPublicKey has %d characters, want 80..4096", ErrInvalidArgs, n)
	}
	// A line break would let the key smuggle extra lines into the signed block.
	if strings.ContainsAny(p.PublicKey, "\r\n\x00") {
		return fmt.Errorf("push: %w: SSHPublicKey must be a single line", ErrInvalidArgs)
	}
	_, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(p.PublicKey))
	if err != nil {
		return fmt.Errorf("push: %w: SSHPublicKey is not an OpenSSH public key: %v", ErrInvalidArgs, err)
	}
	if len(options) > 0 || len(rest) > 0 {
		return fmt.Errorf("push: %w: SSHPublicKey must be a bare key, without options", ErrInvalidArgs)
	}
	if strings.ContainsAny(p.Caller, "\r\n") {
		return fmt.Errorf("push: %w: Caller must be a single line", ErrInvalidArgs)
	}
	for _, x := range p.Extra {
		if !strings.HasPrefix(x, "#") || strings.ContainsAny(x, "\r\n") {
			return fmt.Errorf("push: %w: extra metadata %q must be one line starting with #", ErrInvalidArgs, x)
		}
	}
	if p.WrapSignature < 0 {
		return fmt.Errorf("push: %w: negative WrapSignature %d", ErrInvalidArgs, p.WrapSignature)
	}
	return nil
}

// SignBlock signs lines (metadata lines and the key line, as they should be served) the way
// the service does and returns the whole block: the lines, then the one-line signature. It
// checks nothing, so tests can build blocks the service never would; serve them with
// SetRawKeys.
func (e *Emulator) SignBlock(lines []string) (string, error) {
	if len(lines) == 0 {
		return "", errors.New("sign block: no lines")
	}
	return e.signBlock(lines, 0)
}

func (e *Emulator) signBlock(lines []string, wrap int) (string, error) {
	signed := strings.Join(lines, "\n") + "\n"
	sig, err := pki.SignPSS(e.PKI().SignerKey(), []byte(signed))
	if err != nil {
		return "", fmt.Errorf("sign block: %w", err)
	}
	return signed + wrapText(base64.StdEncoding.EncodeToString(sig), wrap), nil
}

func wrapText(s string, width int) string {
	if width <= 0 || len(s) <= width {
		return s
	}
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width])
		b.WriteByte('\n')
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

// SetRawKeys makes active-keys/USER serve exactly body instead of the pushed blocks (an empty,
// non-nil body serves an empty 200). A nil body removes the override.
func (e *Emulator) SetRawKeys(user string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if body == nil {
		delete(e.raw, user)
		return
	}
	e.raw[user] = append([]byte{}, body...)
}

// keysBody is what active-keys/USER serves, and false for a 404.
func (e *Emulator) keysBody(user string) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if body, ok := e.raw[user]; ok {
		return body, true
	}
	now := e.cfg.Now()
	var live []block
	var texts []string
	for _, b := range e.blocks[user] {
		if now.After(b.expires.Add(expiredGrace)) {
			continue
		}
		live = append(live, b)
		texts = append(texts, b.text)
	}
	if len(live) == 0 {
		delete(e.blocks, user)
		return nil, false
	}
	e.blocks[user] = live
	return []byte(strings.Join(texts, "\n\n")), true
}

// NewRequestID makes a random UUID (version 4), like the service's request ids.
func NewRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("request id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
