package wire

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

func noKeys(_ context.Context, req Request) Response {
	return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
}

// otherAccount is a local account that is neither root nor nobody and shares its uid with no
// other, so that it may be a service account (Debian's daemon, bin or sys).
func otherAccount(t *testing.T) (string, uint32) {
	t.Helper()
	for _, name := range []string{"daemon", "bin", "sys"} {
		if uid, err := ServiceUID(name); err == nil && uid != 0 {
			return name, uid
		}
	}
	t.Skip("no unique non-root system account (daemon, bin, sys) in /etc/passwd")
	return "", 0
}

// TestClientTrustsSocketDirectory covers where the helper will talk to a service: only through
// a directory that root or the service account owns and nobody else can write, and only to a
// server running as root or the service account, never as nobody.
func TestClientTrustsSocketDirectory(t *testing.T) {
	self := uint32(os.Getuid())
	tests := []struct {
		name     string
		root     bool // needs root to run a server as, or give a directory to, another uid
		socket   func(t *testing.T) string
		opts     func(t *testing.T) ClientOptions
		wantErr  string // "" means answered
		wantPeer bool   // the error is about the server, not its directory
	}{
		{name: "private-directory-of-the-service-accepted", socket: func(t *testing.T) string {
			return serve(t, noKeys, ServerOptions{})
		}},
		{name: "world-writable-directory-refused", socket: func(t *testing.T) string {
			return chmodDir(t, serve(t, noKeys, ServerOptions{}), 0o777)
		}, wantErr: "writable by group or others (mode 0777)"},
		{name: "sticky-world-writable-directory-refused", socket: func(t *testing.T) string {
			return chmodDir(t, serve(t, noKeys, ServerOptions{}), os.ModeSticky|0o777)
		}, wantErr: "writable by group or others (mode 01777)"},
		{name: "group-writable-directory-refused", socket: func(t *testing.T) string {
			return chmodDir(t, serve(t, noKeys, ServerOptions{}), 0o770)
		}, wantErr: "writable by group or others (mode 0770)"},
		{name: "symlinked-directory-refused", socket: func(t *testing.T) string {
			sock := serve(t, noKeys, ServerOptions{})
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(filepath.Dir(sock), link); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(link, "s.sock")
		}, wantErr: "is a symbolic link"},
		{name: "symlinked-ancestor-checked-where-it-leads-accepted", socket: func(t *testing.T) string {
			sock := serve(t, noKeys, ServerOptions{})
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(filepath.Dir(filepath.Dir(sock)), link); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(link, filepath.Base(filepath.Dir(sock)), "s.sock")
		}},
		{name: "directory-of-another-uid-refused", root: true, socket: func(t *testing.T) string {
			return moveSocket(t, serve(t, noKeys, ServerOptions{}), 4242)
		}, wantErr: "is owned by uid 4242, not root"},
		{name: "directory-of-nobody-refused-even-when-listed", root: true, socket: func(t *testing.T) string {
			return moveSocket(t, serve(t, noKeys, ServerOptions{}), nobodyUID)
		}, opts: func(*testing.T) ClientOptions {
			return ClientOptions{TrustedUIDs: []uint32{nobodyUID}, TrustedUser: "nobody"}
		}, wantErr: "is owned by uid 65534, not root, so another account could have bound the socket"},
		{name: "nobody-server-refused-even-when-trusted", root: true, socket: func(t *testing.T) string {
			return moveSocket(t, startServerAs(t, nobodyUID), 0)
		}, opts: func(*testing.T) ClientOptions {
			return ClientOptions{TrustedUIDs: []uint32{nobodyUID}, TrustedUser: "nobody"}
		}, wantErr: "is served by uid 65534, not root; refusing it", wantPeer: true},
		{name: "server-of-untrusted-uid-refused", root: true, socket: func(t *testing.T) string {
			_, uid := otherAccount(t)
			return moveSocket(t, startServerAs(t, uid), 0)
		}, wantErr: "not root; refusing it", wantPeer: true},
		{name: "server-of-service-account-accepted-by-name", root: true, socket: func(t *testing.T) string {
			_, uid := otherAccount(t)
			return moveSocket(t, startServerAs(t, uid), uid)
		}, opts: func(t *testing.T) ClientOptions {
			name, _ := otherAccount(t)
			return ClientOptions{TrustedUser: name}
		}},
		{name: "server-of-service-account-accepted-by-uid", root: true, socket: func(t *testing.T) string {
			_, uid := otherAccount(t)
			return moveSocket(t, startServerAs(t, uid), 0)
		}, opts: func(t *testing.T) ClientOptions {
			_, uid := otherAccount(t)
			return ClientOptions{TrustedUIDs: []uint32{uid}}
		}},
		{name: "unknown-service-account-trusts-only-root", root: true, socket: func(t *testing.T) string {
			_, uid := otherAccount(t)
			return moveSocket(t, startServerAs(t, uid), uid)
		}, opts: func(*testing.T) ClientOptions {
			return ClientOptions{TrustedUser: "no-such-user-eic"}
		}, wantErr: "not root (service.user \"no-such-user-eic\": no such account"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			sock := tc.socket(t)
			o := ClientOptions{TrustedUIDs: []uint32{self}}
			if tc.opts != nil {
				o = tc.opts(t)
			}
			resp, err := Query(context.Background(), sock, Request{User: "alice"}, o)
			if tc.wantErr == "" {
				if err != nil || resp.Outcome != lookup.NoKeys {
					t.Fatalf("Query: (%+v, %v); want a no-keys answer", resp, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Query: (%+v, %v); want an error containing %q", resp, err, tc.wantErr)
			}
			if isPeer := strings.Contains(err.Error(), "is served by uid"); isPeer != tc.wantPeer {
				t.Errorf("Query error %q: about the server %v, want %v", err, isPeer, tc.wantPeer)
			}
		})
	}
}

// chmodDir sets the mode of sock's directory and returns sock.
func chmodDir(t *testing.T, sock string, mode os.FileMode) string {
	t.Helper()
	if err := os.Chmod(filepath.Dir(sock), mode); err != nil {
		t.Fatal(err)
	}
	return sock
}

func TestServiceUID(t *testing.T) {
	const base = "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	tests := []struct {
		name    string
		passwd  string
		user    string
		want    uint32
		wantErr string
	}{
		{name: "dedicated-account-accepted", passwd: base + "ec2-instance-connect:x:998:998::/nonexistent:/usr/sbin/nologin\n",
			user: "ec2-instance-connect", want: 998},
		{name: "root-accepted", passwd: base, user: "root", want: 0},
		{name: "nobody-refused", passwd: base, user: "nobody",
			wantErr: `service.user "nobody": uid 65534 is the shared nobody account, which other programs run as too; create a dedicated account`},
		{name: "other-name-for-nobody-refused", passwd: base + "nfsnobody:x:65534:65534::/:/sbin/nologin\n", user: "nfsnobody",
			wantErr: "uid 65534 is the shared nobody account"},
		{name: "uid-shared-with-a-later-account-refused", passwd: base + "eic:x:998:998::/:/sbin/nologin\nmallory:x:998:100::/home/m:/bin/sh\n",
			user: "eic", wantErr: `service.user "eic": uid 998 is shared with mallory, which could then serve keys as the service; create a dedicated account`},
		{name: "uid-shared-with-an-earlier-account-refused", passwd: base + "mallory:x:998:100::/home/m:/bin/sh\neic:x:998:998::/:/sbin/nologin\n",
			user: "eic", wantErr: "uid 998 is shared with mallory"},
		{name: "uid-shared-with-root-refused", passwd: base + "toor:x:0:0::/root:/bin/sh\n", user: "root",
			wantErr: "uid 0 is shared with toor"},
		{name: "missing-account-refused", passwd: base, user: "ec2-instance-connect",
			wantErr: `service.user "ec2-instance-connect": no such account in`},
		{name: "prefix-of-a-name-is-not-the-name", passwd: base + "eic-agent:x:998:998::/:/sbin/nologin\n", user: "eic",
			wantErr: "no such account"},
		{name: "malformed-and-nis-lines-skipped", passwd: base + "+::::::\n-mallory::::::\nbroken line\nx:x:notanumber:1::/:/bin/sh\n" +
			"eic:x:998:998::/:/sbin/nologin\n+mallory:x:998:100::/:/bin/sh\n", user: "eic", want: 998},
		{name: "overlong-line-refused", passwd: base + "eic:x:998:998:" + strings.Repeat("g", maxPasswdLine) + ":/:/bin/sh\n",
			user: "eic", wantErr: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "passwd")
			if err := os.WriteFile(p, []byte(tc.passwd), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := serviceUID(p, tc.user)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("serviceUID(%q) = %d, %v; want an error containing %q", tc.user, got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q spans lines; an operator reads it in one", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("serviceUID(%q) = %d, %v; want %d", tc.user, got, err, tc.want)
			}
		})
	}
	t.Run("missing-file-refused", func(t *testing.T) {
		if _, err := serviceUID(filepath.Join(t.TempDir(), "passwd"), "root"); err == nil {
			t.Fatal("serviceUID with no passwd file: no error; want one")
		}
	})
}
