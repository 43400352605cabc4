package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

// DemoDir is where the demo's commands run and its client files live, inside the namespace.
const DemoDir = Work + "/demo"

// demoSSHConfig is what the demo's ssh reads instead of the user's configuration.
const demoSSHConfig = `# written by eic-demo: sshd's host key is new every run
Host *
  Port 22
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ConnectTimeout 10
`

// Demo shows a login end to end on a private EC2-like host and writes a transcript in which
// every command shown is one that ran, followed by its own output. It pushes with the AWS CLI
// at cli ("" when there is none: then with `eic-emulator push`, and it says so). It returns an
// error naming the first step that did not behave as expected.
// control makes the emulator's control API (see Options.Control).
func Demo(w io.Writer, cli string, control func(*emulator.Emulator, string) (http.Handler, error)) error {
	env, err := Start(Options{Config: "deadline = \"2s\"\n", Control: control})
	if err != nil {
		return err
	}
	defer env.Close()
	sshd, err := StartSSHD(SSHDConfig{Command: HelperPath + " %u %f", CommandUser: CommandUser})
	if err != nil {
		return err
	}
	defer sshd.Stop()
	if err := os.MkdirAll(DemoDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(DemoDir, "ssh_config"), []byte(demoSSHConfig), 0o600); err != nil {
		return err
	}
	d := &demo{w: w, env: env, cli: cli}
	fmt.Fprintf(w, "EC2 Instance Connect demo: private network, mount and PID namespaces stand in for an instance.\n")
	fmt.Fprintf(w, "  instance %s, IMDS emulator at http://169.254.169.254, its SendSSHPublicKey endpoint\n", env.Emu.InstanceID())
	fmt.Fprintf(w, "  at http://%s, sshd on %s\n", ControlAddr, SSHDAddr)
	fmt.Fprintf(w, "  sshd_config: AuthorizedKeysCommand %s %%u %%f\n", HelperPath)
	fmt.Fprintf(w, "               AuthorizedKeysCommandUser %s\n", CommandUser)
	fmt.Fprintf(w, "  Each $ line is a command the demo ran in %s, followed by its output; ssh reads\n", DemoDir)
	fmt.Fprintf(w, "  ./ssh_config there (no known_hosts: sshd's host key is new every run; BatchMode).\n\n")
	steps := []struct {
		title string
		run   func(context.Context) error
	}{
		{"Push a fresh key for ec2-user", d.push},
		{"Log in with it", d.login},
		{"The audit record of that login", d.audit},
		{"A key that was never pushed is refused", d.unpushed},
		{"The pushed key is refused once its TTL has run out", d.expired},
	}
	for i, s := range steps {
		fmt.Fprintf(w, "%d. %s\n", i+1, s.title)
		// The AWS CLI is Python and takes about a second to start; a minute covers a slow machine.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.run(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "   FAILED: %v\n\nsshd log:\n%s", err, sshd.Log())
			return fmt.Errorf("demo step %d (%s): %w", i+1, s.title, err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "All %d steps behaved as expected.\n", len(steps))
	return nil
}

type demo struct {
	w         io.Writer
	env       *Env
	cli       string
	requestID string // what the push answered
	mark      int    // the journal before the first login
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "   "+format+"\n", args...)
}

// run shows a command as a shell would take it (shownEnv first), runs it in DemoDir and shows
// its output, stdout then stderr.
func (d *demo) run(cmd *exec.Cmd, shownEnv ...string) (stdout string, err error) {
	cmd.Dir = DemoDir
	d.say("$ %s", displayCommand(append(shownEnv, cmd.Args...)))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	for _, s := range []string{out.String(), errOut.String()} {
		if s = strings.TrimRight(s, "\n"); s != "" {
			for _, line := range strings.Split(s, "\n") {
				d.say("%s", line)
			}
		}
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w", cmd.Args[0], err)
	}
	return out.String(), nil
}

// command is exec.CommandContext showing name as the program, as found on PATH.
func command(ctx context.Context, path, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Args[0] = name
	return cmd
}

func (d *demo) keygen(ctx context.Context, name string) error {
	_, err := d.run(command(ctx, "/usr/bin/ssh-keygen", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", name))
	return err
}

func (d *demo) push(ctx context.Context) error {
	if err := d.keygen(ctx, "demo-key"); err != nil {
		return err
	}
	var out string
	var err error
	imds := d.env.Emu.Total()
	if d.cli != "" {
		p := CLIPush{CLI: d.cli, Endpoint: "http://" + ControlAddr, Region: d.env.Emu.Region(),
			InstanceID: d.env.Emu.InstanceID(), OSUser: "ec2-user", PubKey: "demo-key.pub",
			Dir: DemoDir, Credentials: d.env.AWSCredentials}
		if _, err := d.run(command(ctx, d.cli, "aws", "--version")); err != nil {
			return err
		}
		d.say("(%s, with only the AWS variables shown, HOME, PATH and LANG in its environment)", d.cli)
		cmd := p.Command(ctx)
		cmd.Args[0] = "aws"
		out, err = d.run(cmd, awsVars(p.Env())...)
	} else {
		d.say("No AWS CLI here (make demo installs Debian's awscli): pushing with the emulator's own")
		d.say("push instead, which asks the emulator for the same push and prints the answer the CLI would.")
		out, err = d.run(command(ctx, Bin("eic-emulator"), "eic-emulator", "push", "--control", ControlAddr,
			"--user", "ec2-user", "--key", "demo-key.pub"))
	}
	if err != nil {
		return err
	}
	a, err := ParsePushAnswer([]byte(out))
	if err != nil {
		return err
	}
	if n := d.env.Emu.Total() - imds; n != 0 {
		return fmt.Errorf("the push made %d requests to the IMDS emulator; it must talk to the push endpoint only", n)
	}
	d.say("The emulator's IMDS counted no request during the push: the client spoke only to the push endpoint.")
	d.requestID = a.RequestID
	d.mark = d.env.Journal.Mark()
	return nil
}

// awsVars are the AWS_ entries of env, the ones worth showing.
func awsVars(env []string) []string {
	var out []string
	for _, e := range env {
		if strings.HasPrefix(e, "AWS_") && !strings.HasSuffix(e, "=") {
			out = append(out, e)
		}
	}
	return out
}

func (d *demo) ssh(ctx context.Context, key string) (string, error) {
	return d.run(command(ctx, "/usr/bin/ssh", "ssh", "-F", "ssh_config", "-i", key, "ec2-user@127.0.0.1", "whoami"))
}

func (d *demo) login(ctx context.Context) error {
	out, err := d.ssh(ctx, "demo-key")
	if err != nil || strings.TrimSpace(out) != "ec2-user" {
		return fmt.Errorf("login failed: %v, whoami %q", err, out)
	}
	return nil
}

func (d *demo) audit(ctx context.Context) error {
	e, ok := d.env.Journal.WaitFor(d.mark, 5*time.Second, func(e Entry) bool { return e["EVENT"] == "accept" })
	if !ok {
		return fmt.Errorf("no audit record for the login")
	}
	d.say("The namespace has no journald, so journalctl has nothing to read here: a stand-in on")
	d.say("journald's socket (%s) received the helper's record:", JournalSocket)
	d.say("  MESSAGE=%s", e["MESSAGE"])
	for _, k := range []string{"SYSLOG_IDENTIFIER", "USER", "FINGERPRINT", "REQUEST_ID", "CALLER", "EXPIRES", "PATH"} {
		d.say("  %s=%s", k, e[k])
	}
	if e["REQUEST_ID"] != d.requestID {
		return fmt.Errorf("the audit record's REQUEST_ID %q is not the push's RequestId %q", e["REQUEST_ID"], d.requestID)
	}
	d.say("REQUEST_ID is the RequestId the push printed.")
	return nil
}

func (d *demo) unpushed(ctx context.Context) error {
	if err := d.keygen(ctx, "never-pushed"); err != nil {
		return err
	}
	if _, err := d.ssh(ctx, "never-pushed"); err == nil {
		return fmt.Errorf("a key that was never pushed logged in")
	}
	return nil
}

func (d *demo) expired(ctx context.Context) error {
	const ttl = 3 * time.Second
	if err := d.keygen(ctx, "short-lived"); err != nil {
		return err
	}
	d.say("AWS always gives a pushed key 60 s; to keep the demo short, the emulator's own push")
	d.say("gives this one %s.", ttl)
	if _, err := d.run(command(ctx, Bin("eic-emulator"), "eic-emulator", "push", "--control", ControlAddr,
		"--user", "ec2-user", "--key", "short-lived.pub", "--ttl", ttl.String())); err != nil {
		return err
	}
	pushed := time.Now()
	if _, err := d.ssh(ctx, "short-lived"); err != nil {
		return fmt.Errorf("the fresh short-lived key did not log in: %w", err)
	}
	// Wait out the TTL: the point of this step is the wall clock passing the expiry.
	wait := time.Until(pushed.Add(ttl + time.Second))
	time.Sleep(wait)
	d.say("... %s after the push:", time.Since(pushed).Round(time.Second))
	mark := d.env.Journal.Mark()
	if _, err := d.ssh(ctx, "short-lived"); err == nil {
		return fmt.Errorf("the expired key still logged in")
	}
	e, ok := d.env.Journal.WaitFor(mark, 5*time.Second, func(e Entry) bool { return e["REASON"] == "expired" })
	if !ok {
		return fmt.Errorf("no audit record saying the key expired")
	}
	d.say("The stand-in journal received: MESSAGE=%s", e["MESSAGE"])
	return nil
}

// displayCommand renders argv as a shell command line, wrapped after leading AWS_ variables
// and before a flag once a line passes 80 characters.
func displayCommand(argv []string) string {
	var b strings.Builder
	line := 0
	for i, a := range argv {
		q := shellQuote(a)
		if i > 0 {
			afterEnv := strings.HasPrefix(argv[i-1], "AWS_") && !strings.HasPrefix(a, "AWS_")
			if afterEnv || line > 80 && strings.HasPrefix(a, "-") {
				b.WriteString(" \\\n         ")
				line = 6
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(q)
		line += len(q)
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
