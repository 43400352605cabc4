package testenv

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Instance is what a test that runs the built binaries as an unprivileged user needs to play
// an EC2 instance without namespaces: the emulator on a loopback listener, and a short temp
// directory (unix socket paths are limited to 108 bytes) holding the emulator's root as ca.pem
// and, under sys/, the DMI asset tag that makes the platform check see this instance.
type Instance struct {
	Emu *emulator.Emulator
	URL string // the emulator's IMDS base URL
	Dir string
	CA  string // Dir/ca.pem
	Sys string // Dir/sys, for platform.sysfs_root
}

// NewInstance starts one for t; everything goes away when t ends. p is the emulator's PKI
// (nil: a fresh one).
func NewInstance(t testing.TB, p *pki.PKI) *Instance {
	t.Helper()
	emu, err := emulator.New(emulator.Config{PKI: p})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { emu.Close(); srv.Close() })
	dir, err := os.MkdirTemp("", "eic")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	in := &Instance{Emu: emu, URL: srv.URL, Dir: dir, Sys: filepath.Join(dir, "sys")}
	in.CA = in.Write(t, "ca.pem", string(emu.RootPEM()))
	in.Write(t, "sys/devices/virtual/dmi/id/board_asset_tag", emu.InstanceID()+"\n")
	return in
}

// Write writes content to rel under Dir, making directories as needed, and returns its path.
func (in *Instance) Write(t testing.TB, rel, content string) string {
	t.Helper()
	path := filepath.Join(in.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ServiceUser returns the current user's name when the configuration accepts it as
// service.user, so that eic-agent can run as it; otherwise it skips t, saying why.
func ServiceUser(t testing.TB) string {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user to run eic-agent as: %v", err)
	}
	if _, err := config.Parse(fmt.Appendf(nil, "[service]\nuser = %q\n", me.Username), "probe"); err != nil {
		t.Skipf("eic-agent cannot run as the current user %q: %v", me.Username, err)
	}
	return me.Username
}
