package readme_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// paster is someone pasting a block: a shell as a given account (nil: this process's), in a
// directory holding bin/ as `make build` leaves it.
type paster struct {
	name string
	cred *syscall.Credential
	dir  string
}

// result is what one paste printed, and the block's variables it left behind.
type result struct {
	stdout, stderr string
	vars           map[string]string
}

// varsMark prefixes the line the test appends to learn the block's variables.
const varsMark = "readme-test-vars:"

// paste runs script in a new bash in its own process group, like a paste into a fresh
// terminal, and returns what it printed and the values of names afterwards. Whatever it left
// running is stopped when t ends.
func (p paster) paste(t *testing.T, script string, names ...string) result {
	t.Helper()
	tail := "\necho " + varsMark
	for _, n := range names {
		tail += fmt.Sprintf(` %s="$%s"`, n, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script+tail+"\n")
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + p.dir, "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The block leaves the emulator running, holding no pipe of ours (it logs to a file);
	// WaitDelay keeps a block that breaks that from hanging the test.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		pgid := cmd.Process.Pid
		t.Cleanup(func() {
			if !testkit.StopGroup(pgid, 10*time.Second) {
				t.Errorf("process group %d did not stop on SIGTERM", pgid)
			}
		})
	}
	if err != nil {
		t.Fatalf("%s: the block failed: %v\nstdout:\n%s\nstderr:\n%s", p.name, err, stdout.String(), stderr.String())
	}
	r := result{vars: map[string]string{}}
	out := stdout.String()
	i := strings.LastIndex(out, varsMark)
	if i < 0 {
		t.Fatalf("%s: the block did not run to its end; stdout:\n%s\nstderr:\n%s", p.name, out, stderr.String())
	}
	for _, f := range strings.Fields(out[i+len(varsMark):]) {
		k, v, _ := strings.Cut(f, "=")
		r.vars[k] = v
	}
	r.stdout, r.stderr = out[:i], stderr.String()
	return r
}

// pasters are this process's user and, as root, also an unprivileged one.
func pasters(t *testing.T) []paster {
	t.Helper()
	for _, tool := range []string{"bash", "ssh-keygen", "seq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir, err := os.MkdirTemp("", "eic-readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.Build(filepath.Join(dir, "bin"), "eic-emulator", "eic-authorized-keys"); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ps := []paster{{name: me.Username, dir: dir}}
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("as root this test also pastes as nobody: %v", err)
		}
		ps = append(ps, paster{name: "nobody", cred: credential(t, nobody), dir: dir})
	}
	return ps
}

func credential(t *testing.T, u *user.User) *syscall.Credential {
	t.Helper()
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

// lastLine is the block's last command, the one the README says to run again.
func lastLine(block string) string {
	lines := strings.Split(strings.TrimSpace(block), "\n")
	return lines[len(lines)-1]
}

// runHelperAlone pastes the block twice in a row as each user: each paste prints the pushed
// key and the audit record, leaves the emulator running so its last command works again, and
// (unless -short) that command prints nothing once the key's minute is over, saying why.
func runHelperAlone(t *testing.T, block string) {
	again := lastLine(block)
	if !strings.HasPrefix(again, "bin/eic-authorized-keys ") {
		t.Fatalf("the block's last line is %q; the README says to run the helper again", again)
	}
	ps := pasters(t)
	t.Run("start-up-error-shown", func(t *testing.T) {
		// A newcomer who skipped `make build`: the paste must end and say why, not wait.
		p := ps[0]
		p.dir = t.TempDir()
		r := p.paste(t, block, "D")
		t.Cleanup(func() { os.RemoveAll(r.vars["D"]) })
		for _, want := range []string{"eic-emulator did not start:", "bin/eic-emulator: No such file or directory"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("without bin/, stdout does not say %q:\n%s", want, r.stdout)
			}
		}
	})
	for _, p := range ps {
		seen := map[string]bool{}
		for round := 1; round <= 2; round++ {
			r := p.paste(t, block, "D", "EMU", "FP")
			d := r.vars["D"]
			if d == "" || seen[d] {
				t.Fatalf("%s, paste %d: $D = %q; want a fresh directory each time", p.name, round, d)
			}
			seen[d] = true
			t.Cleanup(func() { os.RemoveAll(d) })
			pub, err := os.ReadFile(filepath.Join(d, "id_ed25519.pub"))
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(pub))
			if want := f[0] + " " + f[1] + "\n"; r.stdout != want {
				t.Errorf("%s, paste %d: stdout %q, want the pushed key %q\nstderr:\n%s", p.name, round, r.stdout, want, r.stderr)
			}
			if !strings.Contains(r.stderr, "Providing ssh key from EC2 Instance Connect with fingerprint: "+r.vars["FP"]) {
				t.Errorf("%s, paste %d: no audit record for %s on stderr:\n%s", p.name, round, r.vars["FP"], r.stderr)
			}
			// "Run it again": same shell variables, the emulator still up.
			rerun := "D=" + d + " FP=" + r.vars["FP"] + "\n" + again
			if r2 := p.paste(t, rerun); r2.stdout != r.stdout {
				t.Errorf("%s, paste %d: running the last command again printed %q, want %q (is the emulator still running?)\n%s",
					p.name, round, r2.stdout, r.stdout, r2.stderr)
			}
			if testing.Short() {
				continue
			}
			t.Run(fmt.Sprintf("%s-%d-after-a-minute", p.name, round), func(t *testing.T) {
				t.Parallel()
				expired(t, p, rerun)
			})
		}
	}
}

// expired runs the helper again until the pushed key's minute is over: then it must print
// nothing and log why.
func expired(t *testing.T, p paster, rerun string) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := p.paste(t, rerun)
		if r.stdout == "" {
			if !strings.Contains(r.stderr, "reason=expired") {
				t.Errorf("%s: nothing printed, but the log does not say the key expired:\n%s", p.name, r.stderr)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the key is still served 90 s after the push", p.name)
		}
		time.Sleep(2 * time.Second) // the point is the wall clock passing the key's expiry
	}
}
