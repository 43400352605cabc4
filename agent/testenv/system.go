package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Work is the private work area: a tmpfs mounted over /run inside the mount namespace.
const Work = "/run/eic-e2e"

// User is an account added inside the namespace.
type User struct {
	Name string
	UID  int
	// Extra puts the account in libnss-extrausers' files instead of /etc/passwd, so it
	// exists only for a second NSS source (as an LDAP or SSSD user would).
	Extra bool
	// System accounts get no home and no login shell.
	System bool
}

// System is what Prepare set up.
type System struct {
	InstanceID string
	// HasExtraUsers is false when libnss-extrausers is not installed.
	HasExtraUsers bool
}

// Prepare turns the namespace into an EC2-like host: network, fake platform files, trust
// store, users and a private /run, /home, /etc, /usr and /var (overlays over the host's, so the
// host's files are seen but never changed). rootPEM becomes the whole system trust store.
func Prepare(instanceID string, rootPEM []byte, users []User) (*System, error) {
	if !Inside() {
		return nil, fmt.Errorf("testenv: Prepare must run inside the namespaces (call Enter first)")
	}
	steps := []func() error{
		func() error { return mount("proc", "/proc", "proc", 0, "") },
		func() error { return run("ip", "link", "set", "lo", "up") },
		func() error { return run("ip", "addr", "add", "169.254.169.254/32", "dev", "lo") },
		func() error { return mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") },
		func() error { return os.MkdirAll(Work, 0o755) },
		func() error { return os.MkdirAll("/run/sshd", 0o755) },
		func() error { return overlay("/etc") },
		func() error { return overlay("/usr") },
		// Packaging scripts keep state in /var/lib.
		func() error { return overlay("/var") },
		func() error { return mount("tmpfs", "/home", "tmpfs", 0, "mode=0755") },
		func() error { return fakePlatform(instanceID) },
		func() error { return trustOnly(rootPEM) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	sys := &System{InstanceID: instanceID}
	if _, err := os.Stat("/var/lib/extrausers"); err == nil {
		if err := mount("tmpfs", "/var/lib/extrausers", "tmpfs", 0, "mode=0755"); err != nil {
			return nil, err
		}
		sys.HasExtraUsers = true
	}
	for _, u := range users {
		if u.Extra && !sys.HasExtraUsers {
			continue
		}
		if err := addUser(u); err != nil {
			return nil, err
		}
	}
	if sys.HasExtraUsers {
		if err := setNSS("files extrausers"); err != nil {
			return nil, err
		}
	}
	return sys, nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mount(src, target, fstype string, flags uintptr, data string) error {
	if err := syscall.Mount(src, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

// overlay puts a writable layer over dir; writes land in the private /run.
func overlay(dir string) error {
	base := filepath.Join(Work, "overlay", strings.Trim(strings.ReplaceAll(dir, "/", "-"), "-"))
	upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return mount("overlay", dir, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir, upper, work))
}

// fakePlatform makes the DMI board asset tag name the instance, as on Nitro, and hides a Xen
// hypervisor uuid if the host has one.
func fakePlatform(instanceID string) error {
	if err := mount("tmpfs", "/sys/devices/virtual", "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	dir := "/sys/devices/virtual/dmi/id"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "board_asset_tag"), []byte(instanceID+"\n"), 0o444); err != nil {
		return err
	}
	if _, err := os.Stat("/sys/hypervisor"); err == nil {
		return mount("tmpfs", "/sys/hypervisor", "tmpfs", 0, "mode=0755")
	}
	return nil
}

// trustOnly makes rootPEM the only trusted root, in every place the helper looks.
func trustOnly(rootPEM []byte) error {
	if err := os.RemoveAll("/etc/ssl/certs"); err != nil {
		return err
	}
	if err := os.MkdirAll("/etc/ssl/certs", 0o755); err != nil {
		return err
	}
	return os.WriteFile("/etc/ssl/certs/ca-certificates.crt", rootPEM, 0o644)
}

func addUser(u User) error {
	home, shell := "/home/"+u.Name, "/bin/sh"
	if u.System {
		home, shell = "/nonexistent", "/usr/sbin/nologin"
	}
	dir := "/etc"
	if u.Extra {
		dir = "/var/lib/extrausers"
	}
	entries := map[string]string{
		"passwd": fmt.Sprintf("%s:x:%d:%d::%s:%s\n", u.Name, u.UID, u.UID, home, shell),
		// "*" is a password that matches nothing but, unlike "!", does not lock the account:
		// sshd without PAM refuses public keys for locked accounts.
		"shadow": fmt.Sprintf("%s:*:19000:0:99999:7:::\n", u.Name),
		"group":  fmt.Sprintf("%s:x:%d:\n", u.Name, u.UID),
	}
	for file, line := range entries {
		mode := os.FileMode(0o644)
		if file == "shadow" {
			mode = 0o640
		}
		f, err := os.OpenFile(filepath.Join(dir, file), os.O_APPEND|os.O_CREATE|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("add user %s: %w", u.Name, err)
		}
	}
	if u.System {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return err
	}
	for _, p := range []string{home, filepath.Join(home, ".ssh")} {
		if err := os.Chown(p, u.UID, u.UID); err != nil {
			return err
		}
	}
	return os.Chmod(home, 0o755)
}

// setNSS puts sources after "files" for passwd, group and shadow.
func setNSS(sources string) error {
	b, err := os.ReadFile("/etc/nsswitch.conf")
	if err != nil {
		return err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, db := range []string{"passwd:", "group:", "shadow:"} {
			if strings.HasPrefix(line, db) {
				line = db + " " + sources
			}
		}
		out = append(out, line)
	}
	return os.WriteFile("/etc/nsswitch.conf", []byte(strings.Join(out, "\n")), 0o644)
}

// Install copies a binary to dst (root-owned, 0755), creating parent directories 0755, as a
// package would: sshd refuses an AuthorizedKeysCommand with a writable path.
func Install(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// WriteFile writes a root-owned file, creating parent directories.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}
