//go:build e2e

package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// sampleEnv names a file the doctor e2e test writes its text reports to, for the README
// ("Diagnose a login: eic-agent doctor"): EIC_DOCTOR_SAMPLE=/tmp/doctor.txt make e2e.
const sampleEnv = "EIC_DOCTOR_SAMPLE"

// doctor runs the built eic-agent doctor as root on the sshd_config the test sshd runs with.
func doctor(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conf := filepath.Join(testenv.Work, "sshd", "sshd_config") // where testenv.StartSSHD writes it
	cmd := exec.CommandContext(ctx, testenv.Bin("eic-agent"), append([]string{"doctor", "--sshd-config", conf}, args...)...)
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Errorf("doctor wrote to stderr: %s", stderr.String())
	}
	return stdout.String(), code
}

// TestDoctorPassesOnAWorkingHost: with real sshd wired to the helper, the warm service
// running, the emulator at 169.254.169.254 and the journal socket, every check passes, and a
// login works as doctor says it will.
func TestDoctorPassesOnAWorkingHost(t *testing.T) {
	start(t, "")
	var serviceLog testenv.SyncBuffer
	stop, err := testenv.StartService(&serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	report, code := doctor(t, "--user", "ec2-user")
	t.Logf("doctor on a working host:\n%s", report)
	if code != 0 || strings.Contains(report, "warn ") || strings.Contains(report, "fail ") {
		t.Fatalf("doctor exit %d, want 0 with every check ok:\n%s\nservice log:\n%s", code, report, serviceLog.String())
	}
	for _, name := range []string{"sshd", "command-path", "command-user", "platform", "imds", "clock", "signer", "service", "logs"} {
		if !strings.Contains(report, "ok   "+name+" ") {
			t.Errorf("no passing %s check in:\n%s", name, report)
		}
	}
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mustLogIn(t, "ec2-user", path)
	writeSample(t, false, "$ sudo eic-agent doctor --user ec2-user\n"+report)
}

// TestDoctorNamesAForeignCommand: with another AuthorizedKeysCommand in force (and no service
// running), doctor fails, names the command and says why it wins.
func TestDoctorNamesAForeignCommand(t *testing.T) {
	const other = "/usr/local/sbin/other-keys"
	if err := testenv.WriteFile(other, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start(t, other+" %u")
	report, code := doctor(t, "--user", "ec2-user")
	t.Logf("doctor with another command in force:\n%s", report)
	want := "fail sshd          AuthorizedKeysCommand for ec2-user is " + other + " %u, not eic-agent's (set globally"
	if code != 1 || !strings.Contains(report, want) {
		t.Fatalf("doctor exit %d, want 1 and %q in:\n%s", code, want, report)
	}
	if !strings.Contains(report, "warn service       not running") {
		t.Errorf("doctor should warn that no service answers:\n%s", report)
	}
	writeSample(t, true, "\n$ sudo eic-agent doctor --user ec2-user   # another AuthorizedKeysCommand first, no service\n"+report)
}

// writeSample writes (or appends) a report to the file EIC_DOCTOR_SAMPLE names, if any.
func writeSample(t *testing.T, appendTo bool, text string) {
	t.Helper()
	out := os.Getenv(sampleEnv)
	if out == "" {
		return
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(out, flags, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
