//go:build nspawn

package nspawn

// README's "Test your image's login path locally", run as a newcomer pastes it: the block
// marked <!-- tested: image-login -->, verbatim, with bash, against a throwaway image (the
// cached Debian 12 root with the real .deb installed and an ec2-user account), then the stop
// line its prose gives.

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// imageMark is the README marker of the block; readme_test.go at the repo root names this test
// as the one that runs it.
const imageMark = "<!-- tested: image-login -->"

// prepareImage installs the .deb into the overlay (lower, upper, work mounted on merged) as an
// image build would, in a chroot with /proc and a private /run (sshd -T, which the package
// runs, needs /run/sshd), and adds ec2-user. It runs in a private mount namespace: every
// mount goes with it, and what was installed stays in upper.
const prepareImage = `set -e
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
mount -t proc proc "$4/proc"
mount -t tmpfs -o mode=0755 tmpfs "$4/run"
cp "$5" "$4/tmp/eic-agent.deb"
chroot "$4" sh -c 'mkdir -p /run/sshd && dpkg -i /tmp/eic-agent.deb && rm /tmp/eic-agent.deb && useradd -m -s /bin/bash ec2-user'
`

// pasteImage mounts the prepared overlay at ./rootfs and runs the block in bash, in a private
// mount namespace with its own /run (where nspawn keeps its state), so that no mount reaches
// the host and all of them vanish once the last process the block started has stopped.
const pasteImage = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" rootfs
exec bash -c "$4"
`

// TestImageLoginFromReadme pastes the README block and judges what it printed: ec2-user logged
// in, and the journal inside the container holds the RequestId the AWS CLI printed. Then the
// README's stop line must leave no process, namespace or mount behind.
func TestImageLoginFromReadme(t *testing.T) {
	if why := canRun(); why != "" {
		skip(t, "%s", why)
	}
	for _, tool := range []string{"aws", "ssh", "ssh-keygen", "nsenter", "pgrep", "chroot", "make", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "%s is missing: apt-get install awscli openssh-client (make nspawn-deps)", tool)
		}
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	block, stop := readmeImageBlock(t)
	lower := cachedRoot(t, ctx, "bookworm")
	lowerSum := rootSum(t, lower)

	base := t.TempDir()
	paste := filepath.Join(base, "paste") // the checkout the newcomer pastes in
	upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{paste, upper, work, filepath.Join(paste, "rootfs")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		// The upper directory's mode becomes the container's "/".
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build(t, filepath.Join(paste, "bin"))
	deb := sharedPackages(t, ctx).newDeb
	if out, err := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", prepareImage, "sh", lower, upper, work, filepath.Join(paste, "rootfs"), deb).CombinedOutput(); err != nil {
		t.Fatalf("install %s into the image: %v\n%s", deb, err, out)
	}

	t.Run("no-image-says-why-and-leaves-host-alone", func(t *testing.T) {
		// A newcomer whose ./rootfs is not an image: the paste must end, say why, and never
		// fall back to running its nsenter lines in the host's namespaces.
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(paste, "bin"), filepath.Join(dir, "bin")); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		addrs := hostLoopback(t)
		out, _ := runBlock(t, ctx, dir, []string{"unshare", "--mount", "--propagation", "private",
			"sh", "-c", "mount -t tmpfs -o mode=0755 tmpfs /run && exec bash -c \"$1\"", "sh"}, block, "L")
		for _, want := range []string{"the container did not boot:", "eic-emulator did not start:"} {
			if !strings.Contains(out, want) {
				t.Errorf("without an image, the output does not say %q:\n%s", want, out)
			}
		}
		if got := hostLoopback(t); got != addrs {
			t.Errorf("the host's loopback changed:\nwant\n%s\ngot\n%s", addrs, got)
		}
	})

	before := hostMounts(t)
	out, vars := runBlock(t, ctx, paste, []string{"unshare", "--mount", "--propagation", "private",
		"sh", "-c", pasteImage, "sh", lower, upper, work}, block, "N", "E", "L")
	// The container's namespaces, and the private mount namespace nspawn runs in (its PID and
	// network namespaces are the host's).
	var namespaces []string
	for _, ns := range []string{"L/pid", "L/net", "L/mnt", "N/mnt"} {
		k, name, _ := strings.Cut(ns, "/")
		if l, err := os.Readlink("/proc/" + vars[k] + "/ns/" + name); err == nil {
			namespaces = append(namespaces, l)
		}
	}

	t.Run("ec2-user-logged-in", func(t *testing.T) {
		if !regexp.MustCompile(`(?m)^ec2-user$`).MatchString(out) {
			t.Errorf("no line ec2-user (whoami over ssh) in the output:\n%s", out)
		}
	})
	t.Run("journal-has-the-cli-request-id", func(t *testing.T) {
		m := regexp.MustCompile(`"RequestId": "([0-9a-f-]{36})"`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the AWS CLI printed no RequestId:\n%s", out)
		}
		if want := "request-id: " + m[1] + ","; !strings.Contains(out, want) {
			t.Errorf("journalctl -t ec2-instance-connect shows no record with %q:\n%s", want, out)
		}
	})

	t.Run("stop-line-leaves-nothing", func(t *testing.T) {
		if len(namespaces) < 4 {
			t.Fatalf("the container's and nspawn's namespaces not found (N=%q L=%q): are they running?", vars["N"], vars["L"])
		}
		var sets strings.Builder
		for _, k := range []string{"N", "E", "L"} {
			sets.WriteString(k + "=" + strconv.Quote(vars[k]) + "\n")
		}
		runBlock(t, ctx, paste, nil, sets.String()+stop)
		// Two minutes: systemd in the container gives a unit 90 s to stop before it kills it.
		start := time.Now()
		deadline := start.Add(2 * time.Minute)
		defer func() {
			log, _ := os.ReadFile(filepath.Join(paste, "eic-image-test.log"))
			t.Logf("the container stopped in %s; its console's last lines:\n%s", time.Since(start).Round(100*time.Millisecond), tail(log, 15))
		}()
		for {
			left := processesIn(namespaces)
			for _, k := range []string{"N", "E"} {
				if pid, err := strconv.Atoi(vars[k]); err == nil && syscall.Kill(pid, 0) == nil {
					left = append(left, k+"="+vars[k])
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("two minutes after %q, still running: %v", stop, left)
			}
			time.Sleep(100 * time.Millisecond) // polling: these processes are not our children
		}
		if got := hostMounts(t); got != before {
			t.Errorf("host mounts changed:\nwant\n%s\ngot\n%s", before, got)
		}
		if got := rootSum(t, lower); got != lowerSum {
			t.Errorf("cached root %s changed: %s, want %s", lower, got, lowerSum)
		}
	})
}

// readmeImageBlock returns the README block marked image-login and the stop line its prose
// gives ("Stop it with `...`").
func readmeImageBlock(t *testing.T) (block, stop string) {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var body strings.Builder
	state := 0 // 0 before the marker, 1 at the fence, 2 in the block, 3 after it
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && line == imageMark:
			state = 1
		case state == 1 && line == "```sh":
			state = 2
		case state == 1:
			t.Fatalf("README.md: %s is not followed by a ```sh fence but by %q", imageMark, line)
		case state == 2 && line == "```":
			state = 3
		case state == 2:
			body.WriteString(line + "\n")
		}
	}
	if state != 3 {
		t.Fatalf("README.md has no complete sh block marked %s", imageMark)
	}
	after := string(b[bytes.Index(b, []byte(imageMark)):])
	m := regexp.MustCompile("Stop it with `([^`]+)`").FindStringSubmatch(after)
	if m == nil {
		t.Fatal("README.md says nowhere after the image-login block how to stop it (Stop it with `...`)")
	}
	return body.String(), m[1]
}

// varsLine prefixes the line appended to a paste to learn the block's variables.
const varsLine = "image-login-vars:"

// runBlock runs script with bash (wrapped in argv when given, which then gets the script as its
// last argument) in dir, as root pastes it into a fresh terminal in its own process group, and
// returns its stdout and stderr and the values of names afterwards. What the block leaves
// running is stopped when the test ends, in case the stop line did not.
func runBlock(t *testing.T, ctx context.Context, dir string, argv []string, script string, names ...string) (string, map[string]string) {
	t.Helper()
	if len(names) > 0 {
		script += "\necho " + varsLine
		for _, n := range names {
			script += " " + n + `="$` + n + `"`
		}
		script += "\n"
	}
	if argv == nil {
		argv = []string{"bash", "-c"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], script)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Everything the block starts in the background logs to files; WaitDelay keeps one that
	// holds our pipes from hanging the test.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		pgid := cmd.Process.Pid
		t.Cleanup(func() { testkit.StopGroup(pgid, 30*time.Second) }) // nspawn powers the container off on SIGTERM
	}
	if err != nil {
		t.Fatalf("the block failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String() + stderr.String()
	vars := map[string]string{}
	if len(names) == 0 {
		return out, vars
	}
	i := strings.LastIndex(stdout.String(), varsLine)
	if i < 0 {
		t.Fatalf("the block did not run to its end:\n%s", out)
	}
	for _, f := range strings.Fields(stdout.String()[i+len(varsLine):]) {
		k, v, _ := strings.Cut(f, "=")
		vars[k] = v
	}
	t.Logf("the block printed:\n%s", out)
	return out, vars
}

// hostLoopback is what `ip addr show dev lo` prints on the host.
func hostLoopback(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "addr", "show", "dev", "lo").Output()
	if err != nil {
		t.Fatalf("ip addr show dev lo: %v", err)
	}
	return string(out)
}
