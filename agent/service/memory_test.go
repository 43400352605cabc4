package service

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

func TestMemoryKeepsEachAnsweredKeyOnce(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := keys.ParseFingerprint(ssh.FingerprintSHA256(k))
	if err != nil {
		t.Fatal(err)
	}
	acc := []keys.Accepted{{Key: k, Fingerprint: ssh.FingerprintSHA256(k)}}
	var m memory
	m.init()
	now := time.Unix(1_750_000_000, 0)
	f := fetched{seq: 1, at: now, bundle: &lookup.Bundle{Found: true}}
	ent := &signerEntry{}
	// Many requests waited on the same shared fetch and each records its answer.
	for range 100 {
		m.update("alice", f, ent, acc, &fp, 10*time.Second)
	}
	if got := len(m.m["alice"].answered); got != 1 {
		t.Fatalf("remembered %d copies of one answered key; want 1", got)
	}
	if _, _, ok := m.recall("alice", &fp, now.Add(time.Second)); !ok {
		t.Fatal("the answered key is not recalled")
	}
}
