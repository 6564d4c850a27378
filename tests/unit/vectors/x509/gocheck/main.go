// gocheck: proves that step-ca 0.19's own Go code accepts what module_utils/keys.c and x509.c
// write, and makes the step-written key vectors that tests/unit/test_x509.c reads.
// Run by hand (not from make test); see ../README.md.
//
//	gocheck gen DIR      write step-style encrypted keys (pemutil.Serialize, as `step ca init`)
//	gocheck check DIR    parse and verify what `X509_VECTORS_OUT=DIR build/unit/test_x509` left,
//	                     then load it into step-ca's own authority (authority.New, as
//	                     `step-ca --password-file` does) and sign the CSR with it → DIR/leaf.crt
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/fingerprint"
	"go.step.sm/crypto/pemutil"
	"go.step.sm/crypto/x509util"
)

// Password of the vectors: test data, not a secret.
const password = "step-vector-password"

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func writeKey(dir, name string, key crypto.Signer, opts ...pemutil.Options) {
	block, err := pemutil.Serialize(key, append(opts, pemutil.WithPassword([]byte(password)))...)
	if err != nil {
		fail("serialize %s: %v", name, err)
	}
	pub, err := pemutil.Serialize(key.Public())
	if err != nil {
		fail("serialize %s public key: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(block), 0o600); err != nil {
		fail("%v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pub"), pem.EncodeToMemory(pub), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Printf("wrote %s.key (%s)\n", name, block.Type)
}

// gen: the two encrypted forms step writes. `step ca init` (certificates/pki/pki.go
// encodePrivateKey → pemutil.Serialize(key, WithPassword)) gives EC keys the legacy
// Proc-Type/DEK-Info form; Ed25519 keys are always PKCS#8 (pemutil.Serialize default case).
func gen(dir string) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("%v", err)
	}
	writeKey(dir, "step-ec-legacy", ec)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		fail("%v", err)
	}
	writeKey(dir, "step-ed25519-pkcs8", ed)
	writeKey(dir, "step-ec-pkcs8", ec, pemutil.WithPKCS8(true))
}

func readPassword(dir string) []byte {
	b, err := os.ReadFile(filepath.Join(dir, "password.txt"))
	if err != nil {
		fail("%v", err)
	}
	return bytes.TrimRight(b, "\n")
}

// checkKeys: every key as step-ca's softkms CreateSigner reads it (pemutil.Read + WithPassword).
func checkKeys(dir string, pass []byte) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(paths) == 0 {
		fail("no *.key in %s", dir)
	}
	for _, p := range paths {
		var opts []pemutil.Options
		if strings.HasPrefix(filepath.Base(p), "encrypted-") {
			opts = append(opts, pemutil.WithPassword(pass))
		}
		k, err := pemutil.Read(p, opts...)
		if err != nil {
			fail("pemutil.Read %s: %v", p, err)
		}
		if _, ok := k.(crypto.Signer); !ok {
			fail("%s: %T is not a crypto.Signer", p, k)
		}
		if len(opts) > 0 {
			if _, err := pemutil.Read(p, pemutil.WithPassword([]byte("wrong"))); err == nil {
				fail("%s: decrypted with a wrong password", p)
			}
		}
		fmt.Printf("ok   key %-32s %T\n", filepath.Base(p), k)
	}
}

func sameKey(signer interface{}, pub crypto.PublicKey) bool {
	s, ok := signer.(crypto.Signer)
	if !ok {
		return false
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := s.Public().(equaler)
	return ok && e.Equal(pub)
}

func checkCA(dir string, pass []byte) {
	root, err := pemutil.ReadCertificate(filepath.Join(dir, "root_ca.crt"))
	if err != nil {
		fail("pemutil.ReadCertificate root: %v", err)
	}
	bundle, err := pemutil.ReadCertificateBundle(filepath.Join(dir, "intermediate_ca.crt"))
	if err != nil {
		fail("pemutil.ReadCertificateBundle intermediate: %v", err)
	}
	inter := bundle[0]
	switch {
	case !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != 1:
		fail("root basic constraints: CA=%v pathlen=%d", root.IsCA, root.MaxPathLen)
	case !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero:
		fail("intermediate basic constraints: CA=%v pathlen=%d zero=%v", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	case root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || inter.KeyUsage != root.KeyUsage:
		fail("key usage: root %v intermediate %v", root.KeyUsage, inter.KeyUsage)
	case len(root.SubjectKeyId) != 20 || !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId):
		fail("key identifiers: root SKI %x, intermediate AKI %x", root.SubjectKeyId, inter.AuthorityKeyId)
	case len(root.AuthorityKeyId) != 0:
		fail("root has an AKI")
	case !strings.HasSuffix(root.Subject.CommonName, " Root CA") || !strings.HasSuffix(inter.Subject.CommonName, " Intermediate CA"):
		fail("names: %q %q", root.Subject.CommonName, inter.Subject.CommonName)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		fail("intermediate not signed by root: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if _, err := inter.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		fail("intermediate does not verify: %v", err)
	}
	for name, cert := range map[string]*x509.Certificate{"root_ca": root, "intermediate_ca": inter} {
		key, err := pemutil.Read(filepath.Join(dir, name+"_key"), pemutil.WithPassword(pass))
		if err != nil {
			fail("pemutil.Read %s_key: %v", name, err)
		}
		if !sameKey(key, cert.PublicKey) {
			fail("%s_key does not match %s.crt", name, name)
		}
	}
	fp, err := fingerprint.New(root.Raw, crypto.SHA256, fingerprint.HexFingerprint)
	if err != nil {
		fail("%v", err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "root_ca.fingerprint"))
	if fp != strings.TrimSpace(string(want)) {
		fail("root fingerprint: step %s, ours %s", fp, want)
	}
	fmt.Printf("ok   CA: %q (pathlen 1) -> %q (pathlen 0), fingerprint %s\n", root.Subject.String(), inter.Subject.String(), fp)
}

// checkCSR: step-ca's defaultSANsValidator splits the token's sans with x509util.SplitSANs and
// compares each type with the CSR; ours must split the same way.
func checkCSR(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "leaf.csr"))
	if err != nil {
		fail("%v", err)
	}
	csr, err := pemutil.ParseCertificateRequest(b)
	if err != nil {
		fail("parse CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		fail("CSR signature: %v", err)
	}
	s, _ := os.ReadFile(filepath.Join(dir, "leaf.sans"))
	sans := strings.Fields(string(s))
	dns, ips, emails, uris := x509util.SplitSANs(sans)
	got := fmt.Sprint(csr.DNSNames, csr.IPAddresses, csr.EmailAddresses, csr.URIs)
	want := fmt.Sprint(dns, ips, emails, uris)
	if got != want {
		fail("CSR SANs split differently: CSR %s, step %s", got, want)
	}
	fmt.Printf("ok   CSR CN=%q SANs %s\n", csr.Subject.CommonName, got)
}

// signWithAuthority: the real step-ca authority, from a config like the one step_ca writes, loads
// our root, intermediate and encrypted intermediate key (softkms CreateSigner → pemutil.Read
// with the password) and signs our CSR with step's DefaultLeafTemplate.
func signWithAuthority(dir string, pass []byte) {
	cfg := &config.Config{
		Root:             []string{filepath.Join(dir, "root_ca.crt")},
		IntermediateCert: filepath.Join(dir, "intermediate_ca.crt"),
		IntermediateKey:  filepath.Join(dir, "intermediate_ca_key"),
		Address:          "127.0.0.1:0",
		DNSNames:         []string{"localhost"},
		Password:         string(pass),
		AuthorityConfig:  &config.AuthConfig{},
	}
	a, err := authority.New(cfg)
	if err != nil {
		fail("authority.New: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "leaf.csr"))
	csr, err := pemutil.ParseCertificateRequest(b)
	if err != nil {
		fail("%v", err)
	}
	s, _ := os.ReadFile(filepath.Join(dir, "leaf.sans"))
	templ, err := provisioner.TemplateOptions(nil, x509util.CreateTemplateData(csr.Subject.CommonName, strings.Fields(string(s))))
	if err != nil {
		fail("%v", err)
	}
	now := time.Now()
	validity := provisioner.CertificateModifierFunc(func(c *x509.Certificate, _ provisioner.SignOptions) error {
		c.NotBefore, c.NotAfter = now.Add(-time.Minute), now.Add(24*time.Hour)
		return nil
	})
	chain, err := a.Sign(csr, provisioner.SignOptions{}, templ, validity)
	if err != nil {
		fail("authority.Sign: %v", err)
	}
	var out []byte
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(filepath.Join(dir, "leaf.crt"), out, 0o644); err != nil {
		fail("%v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.GetRootCertificate())
	inter := x509.NewCertPool()
	inter.AddCert(chain[1])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		fail("leaf does not verify: %v", err)
	}
	fmt.Printf("ok   step-ca authority signed the CSR: serial %s, SANs %v %v %v %v -> leaf.crt\n",
		chain[0].SerialNumber, chain[0].DNSNames, chain[0].IPAddresses, chain[0].EmailAddresses, chain[0].URIs)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: gocheck gen|check DIR")
	}
	switch os.Args[1] {
	case "gen":
		gen(os.Args[2])
	case "check":
		pass := readPassword(os.Args[2])
		checkKeys(os.Args[2], pass)
		checkCA(os.Args[2], pass)
		checkCSR(os.Args[2])
		signWithAuthority(os.Args[2], pass)
		fmt.Println("gocheck: all passed")
	default:
		fail("unknown mode %q", os.Args[1])
	}
}
