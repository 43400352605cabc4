package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// BenchmarkStartup measures the helper end to end, one process per call as sshd runs it, next
// to an empty Go program (package main; func main(){}) built by the same toolchain with the
// same flags as `make build`. Each iteration runs three processes, in rotating order so that
// drift in the machine's load falls on all three alike:
//
//   - empty: the empty program, the floor any Go binary pays to start and exit;
//   - version: `eic-authorized-keys --version`, which is that floor plus loading the larger
//     binary and every package initialiser the helper links;
//   - warm: a signed-attempt lookup (user and fingerprint) answered by a warm `eic-agent run`
//     over its unix socket, the emulator serving IMDS on loopback behind it.
//
// ns/op is the three together. The figures to read are the custom metrics: the median of
// each kind (the mean is skewed by the odd descheduled run on a shared machine), the cost of
// start-up over the empty program (version-over-empty-ns), and the warm run over the empty one
// (warm-over-empty-ns) and as a multiple of it (warm/empty). The differences hold steadier than
// the ratio as the machine's load changes: load slows the process start that all three share.
// imds-requests/warm-run shows the warm runs were answered by the service (mostly from its key
// memory) and never fell back to verifying directly, which costs 10 requests a run.
func BenchmarkStartup(b *testing.B) {
	bins := buildForStartup(b)
	w := startWarmService(b, bins)

	kinds := []struct {
		name string
		args []string
	}{
		{"empty", []string{bins.empty}},
		{"version", []string{bins.helper, "--version"}},
		{"warm", []string{bins.helper, "--config", w.config, w.user, w.fingerprint}},
	}
	times := make([][]time.Duration, len(kinds))
	imdsBefore := w.emu.Total()
	i := 0
	for b.Loop() {
		for j := range kinds {
			k := (i + j) % len(kinds)
			times[k] = append(times[k], timeRun(b, kinds[k].args))
		}
		i++
	}
	imdsRequests := w.emu.Total() - imdsBefore
	// Still the service's key after the loop, so the figures are of runs that printed it.
	w.mustAnswer(b)

	median := make([]float64, len(kinds))
	for k, kind := range kinds {
		median[k] = float64(medianOf(times[k]))
		b.ReportMetric(median[k], kind.name+"-ns/run")
	}
	b.ReportMetric(median[1]-median[0], "version-over-empty-ns")
	b.ReportMetric(median[2]-median[0], "warm-over-empty-ns")
	b.ReportMetric(median[2]/median[0], "warm/empty")
	b.ReportMetric(float64(imdsRequests)/float64(len(times[2])), "imds-requests/warm-run")
}

// timeRun runs args with sshd's empty environment and stdout and stderr on /dev/null (no pipe
// and copier in the benchmark), and returns how long it took from start to exit. A run that
// fails stops the benchmark: its time would be of something else.
func timeRun(b *testing.B, args []string) time.Duration {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v (run it by hand to see its log)", strings.Join(args, " "), err)
	}
	return d
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

type startupBins struct{ empty, helper, agent string }

// buildForStartup builds the empty program, the helper and the service with make build's
// flags, so the comparison is between binaries built alike.
func buildForStartup(b *testing.B) startupBins {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	bins := startupBins{
		empty:  filepath.Join(dir, "empty"),
		helper: filepath.Join(dir, "eic-authorized-keys"),
		agent:  filepath.Join(dir, "eic-agent"),
	}
	for _, t := range []struct{ out, pkg, dir string }{
		{bins.empty, "empty.go", dir}, // built outside the module, as a lone file
		{bins.helper, "github.com/eic-agent/eic-agent/cmd/eic-authorized-keys", ""},
		{bins.agent, "github.com/eic-agent/eic-agent/cmd/eic-agent", ""},
	} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", t.out, t.pkg)
		cmd.Dir = t.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", t.pkg, err, out)
		}
	}
	return bins
}

// warmService is a running `eic-agent run` and a helper config that asks it.
type warmService struct {
	emu                       *emulator.Emulator
	config, user, fingerprint string
	helper                    string
}

// startWarmService starts the emulator on a loopback listener and `eic-agent run` as the
// current user (trusted by the helper as service.user), waits for its READY=1, pushes a key
// and answers it once so the signer is verified and the key is in the service's memory.
func startWarmService(b *testing.B, bins startupBins) *warmService {
	b.Helper()
	me := testenv.ServiceUser(b)
	p, err := pki.New(pki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	in := testenv.NewInstance(b, p)
	emu, dir, write := in.Emu, in.Dir, func(rel, content string) string { return in.Write(b, rel, content) }
	// The shipped defaults but for where things are; the log goes to stderr, which the
	// benchmark discards, so that the figures do not depend on this machine's journald.
	cfg := write("config.toml", fmt.Sprintf(`[imds]
endpoint = %q
[trust]
ca = %q
[platform]
sysfs_root = %q
[users]
getent = "none"
[log]
target = "stderr"
[service]
socket = %q
user = %q
`, in.URL, in.CA, in.Sys, filepath.Join(dir, "run", "agent.sock"), me))

	startAgent(b, bins.agent, cfg, dir)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if _, err := emu.Push(emulator.Push{OSUser: "ec2-user", PublicKey: line, TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	w := &warmService{emu: emu, config: cfg, user: "ec2-user", fingerprint: ssh.FingerprintSHA256(key), helper: bins.helper}
	w.mustAnswer(b)
	return w
}

// mustAnswer runs the helper once and fails unless the service answered with the pushed key.
func (w *warmService) mustAnswer(b *testing.B) {
	b.Helper()
	cmd := exec.Command(w.helper, "--config", w.config, w.user, w.fingerprint)
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("helper: %v\nstderr:\n%s", err, stderr.String())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), "path=service") {
		b.Fatalf("helper printed %d key lines, want 1, answered by the service (path=service)\nstderr:\n%s", lines, stderr.String())
	}
}

// startAgent starts `eic-agent run` and returns once it has told its NOTIFY_SOCKET READY=1;
// the process is stopped when the benchmark ends.
func startAgent(b *testing.B, bin, cfg, dir string) {
	b.Helper()
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer notify.Close()

	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = []string{"NOTIFY_SOCKET=" + notifyPath}
	stderr := &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	buf := make([]byte, 4096)
	_ = notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, err := notify.Read(buf)
		if err != nil {
			b.Fatalf("eic-agent never said READY=1: %v\nstderr:\n%s", err, stderr.String())
		}
		if slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
			return
		}
	}
}
