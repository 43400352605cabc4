package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// DebianAWSCLI is where Debian's awscli package (installed by `make e2e-deps`) puts the CLI.
const DebianAWSCLI = "/usr/bin/aws"

// FindAWSCLI returns the AWS CLI to push with: Debian's, else the first `aws` on PATH, else ""
// when there is none.
func FindAWSCLI() string {
	if st, err := os.Stat(DebianAWSCLI); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return DebianAWSCLI
	}
	if p, err := exec.LookPath("aws"); err == nil {
		return p
	}
	return ""
}

// CLIPush is one `aws ec2-instance-connect send-ssh-public-key`, exactly as AWS documents it
// plus --endpoint-url (the emulator's control listener) and --region.
type CLIPush struct {
	CLI        string // path of the aws program
	Endpoint   string // http://127.0.0.1:8169
	Region     string
	InstanceID string
	OSUser     string
	// PubKey is the public key file, relative to Dir (the CLI reads file://NAME from there).
	PubKey string
	Dir    string
	// Credentials is an AWS shared-credentials file with a [default] profile.
	Credentials string
}

// Env returns the CLI's whole environment. Nothing is inherited, so no profile, credential or
// endpoint of the user's own reaches it: credentials come from one file, config from none, and
// AWS_EC2_METADATA_DISABLED keeps it from asking IMDS (here the emulator) for credentials. The
// only address it is given is the endpoint.
func (p CLIPush) Env() []string {
	return []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + p.Credentials,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"HOME=" + p.Dir,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
	}
}

// Args returns the command line, program first.
func (p CLIPush) Args() []string {
	return []string{p.CLI, "ec2-instance-connect", "send-ssh-public-key",
		"--endpoint-url", p.Endpoint, "--region", p.Region,
		"--instance-id", p.InstanceID, "--instance-os-user", p.OSUser,
		"--ssh-public-key", "file://" + p.PubKey}
}

// Command returns the push, ready to run.
func (p CLIPush) Command(ctx context.Context) *exec.Cmd {
	args := p.Args()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = p.Env()
	cmd.Dir = p.Dir
	return cmd
}

// PushAnswer is what send-ssh-public-key prints on success.
type PushAnswer struct {
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
}

// ParsePushAnswer reads the CLI's JSON answer strictly: exactly these two fields.
func ParsePushAnswer(out []byte) (PushAnswer, error) {
	var a PushAnswer
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("parse the push answer %.200q: %w", out, err)
	}
	if dec.More() {
		return a, fmt.Errorf("parse the push answer %.200q: trailing data", out)
	}
	if !a.Success || a.RequestID == "" {
		return a, fmt.Errorf("push answer %.200q: want Success true and a RequestId", out)
	}
	return a, nil
}
