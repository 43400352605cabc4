package testenv

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

// Demo shows a login end to end on a private EC2-like host and writes a readable transcript.
// It returns an error naming the first step that did not behave as expected.
func Demo(w io.Writer) error {
	env, err := Start(Options{Config: "deadline = \"2s\"\n"})
	if err != nil {
		return err
	}
	defer env.Close()
	sshd, err := StartSSHD(SSHDConfig{Command: HelperPath + " %u %f", CommandUser: CommandUser})
	if err != nil {
		return err
	}
	defer sshd.Stop()
	d := &demo{w: w, env: env}
	fmt.Fprintf(w, "EC2 Instance Connect demo: a private network and mount namespace stands in for an instance.\n")
	fmt.Fprintf(w, "  instance %s, IMDS emulator at http://169.254.169.254, sshd on %s\n", env.Emu.InstanceID(), SSHDAddr)
	fmt.Fprintf(w, "  sshd_config: AuthorizedKeysCommand %s %%u %%f\n", HelperPath)
	fmt.Fprintf(w, "               AuthorizedKeysCommandUser %s\n\n", CommandUser)
	steps := []struct {
		title string
		run   func() error
	}{
		{"Push a fresh key for ec2-user", d.push},
		{"Log in with it", d.login},
		{"The audit record of that login", d.audit},
		{"A key that was never pushed is refused", d.unpushed},
		{"The pushed key is refused once its TTL has run out", d.expired},
	}
	for i, s := range steps {
		fmt.Fprintf(w, "%d. %s\n", i+1, s.title)
		if err := s.run(); err != nil {
			fmt.Fprintf(w, "   FAILED: %v\n\nsshd log:\n%s", err, sshd.Log())
			return fmt.Errorf("demo step %d (%s): %w", i+1, s.title, err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "All %d steps behaved as expected.\n", len(steps))
	return nil
}

type demo struct {
	w       io.Writer
	env     *Env
	keyPath string
	mark    int
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "   "+format+"\n", args...)
}

func (d *demo) push() error {
	path, pub, err := KeyGen("demo-key", "ed25519")
	if err != nil {
		return err
	}
	d.keyPath = path
	d.say("$ ssh-keygen -t ed25519 -f demo-key")
	d.say("$ aws ec2-instance-connect send-ssh-public-key --instance-id %s \\", d.env.Emu.InstanceID())
	d.say("      --instance-os-user ec2-user --ssh-public-key file://demo-key.pub")
	d.mark = d.env.Journal.Mark()
	id, err := d.env.Emu.Push(emulator.Push{OSUser: "ec2-user", PublicKey: pub, Caller: "arn:aws:iam::123456789012:user/demo"})
	if err != nil {
		return err
	}
	d.say(`{"RequestId": %q, "Success": true}`, id)
	return nil
}

func (d *demo) ssh(keyPath string) Login {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.say("$ ssh -i %s ec2-user@127.0.0.1 whoami", keyPath[strings.LastIndex(keyPath, "/")+1:])
	l := SSH(ctx, "ec2-user", keyPath, "whoami")
	for _, line := range strings.Split(strings.TrimSpace(l.Stdout+l.Stderr), "\n") {
		d.say("%s", line)
	}
	return l
}

func (d *demo) login() error {
	l := d.ssh(d.keyPath)
	if !l.OK() || strings.TrimSpace(l.Stdout) != "ec2-user" {
		return fmt.Errorf("login failed: %v", l.Err)
	}
	return nil
}

func (d *demo) audit() error {
	e, ok := d.env.Journal.WaitFor(d.mark, 5*time.Second, func(e Entry) bool { return e["EVENT"] == "accept" })
	if !ok {
		return fmt.Errorf("no audit record for the login")
	}
	d.say("$ journalctl -t ec2-instance-connect")
	d.say("%s", e["MESSAGE"])
	d.say("  USER=%s FINGERPRINT=%s REQUEST_ID=%s CALLER=%s EXPIRES=%s", e["USER"], e["FINGERPRINT"], e["REQUEST_ID"], e["CALLER"], e["EXPIRES"])
	return nil
}

func (d *demo) unpushed() error {
	path, _, err := KeyGen("never-pushed", "ed25519")
	if err != nil {
		return err
	}
	if l := d.ssh(path); l.OK() {
		return fmt.Errorf("a key that was never pushed logged in")
	}
	return nil
}

func (d *demo) expired() error {
	path, pub, err := KeyGen("short-lived", "ed25519")
	if err != nil {
		return err
	}
	const ttl = 3 * time.Second
	d.say("(pushed with a %s TTL instead of 60 s, to keep the demo short)", ttl)
	if _, err := d.env.Emu.Push(emulator.Push{OSUser: "ec2-user", PublicKey: pub, TTL: ttl}); err != nil {
		return err
	}
	if l := d.ssh(path); !l.OK() {
		return fmt.Errorf("the fresh short-lived key did not log in: %v", l.Err)
	}
	// Wait out the TTL: the point of this step is the wall clock passing the expiry.
	time.Sleep(ttl + time.Second)
	d.say("... %s later:", ttl+time.Second)
	mark := d.env.Journal.Mark()
	if l := d.ssh(path); l.OK() {
		return fmt.Errorf("the expired key still logged in")
	}
	if e, ok := d.env.Journal.WaitFor(mark, 5*time.Second, func(e Entry) bool { return e["REASON"] == "expired" }); ok {
		d.say("audit: %s", e["MESSAGE"])
	}
	return nil
}
