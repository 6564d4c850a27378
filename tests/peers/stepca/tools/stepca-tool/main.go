// stepca-tool: test helper for tests/peers/stepca/smoke.sh.
//
// It writes the step-ca provisioner formats BY HAND, exactly as
// docs/stepca-formats.md describes them (so the C modules can copy the
// recipe), and cross-checks every result with the libraries step-ca and its
// clients use (gopkg.in/square/go-jose.v2 via go.step.sm/crypto/jose).
//
//	stepca-tool provisioner -name N -password-file F [-p2c 100000]
//	    -> JSON provisioner object {"type":"JWK","name","key","encryptedKey"}
//	stepca-tool ott -provisioners FILE -name N -password-file F -aud URL
//	    -sub CN [-san S]... [-root root.crt] [-lifetime 5m] [-kid K]
//	    -> one-time token (JWS compact, ES256) on stdout
//	stepca-tool renew-token -cert chain.pem -key leaf.key -aud URL
//	    -> x5cInsecure token for "Authorization: Bearer" on POST /1.0/renew
//	stepca-tool freeport  -> a free TCP port on 127.0.0.1
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"go.step.sm/crypto/jose"
	"golang.org/x/crypto/pbkdf2"
)

var b64 = base64.RawURLEncoding

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "stepca-tool: "+f+"\n", a...)
	os.Exit(1)
}

func readPassword(file string) []byte {
	b, err := os.ReadFile(file)
	if err != nil {
		die("%v", err)
	}
	// step-ca and step trim trailing white space (commands/app.go appAction).
	return bytes.TrimRight(b, " \t\r\n")
}

// pad32 left-pads a big-endian integer to the P-256 field size (go-jose
// rejects x/y/d of any other length: jwk.go ecPublicKey/ecPrivateKey).
func pad32(n *big.Int) []byte {
	out := make([]byte, 32)
	n.FillBytes(out)
	return out
}

// aesKeyWrap is RFC 3394 AES key wrap (default IV A6A6A6A6A6A6A6A6).
func aesKeyWrap(kek, key []byte) []byte {
	block, err := aes.NewCipher(kek)
	if err != nil {
		die("%v", err)
	}
	n := len(key) / 8
	r := make([][]byte, n)
	for i := range r {
		r[i] = append([]byte(nil), key[i*8:(i+1)*8]...)
	}
	a := []byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}
	buf := make([]byte, 16)
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(buf, a)
			copy(buf[8:], r[i])
			block.Encrypt(buf, buf)
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(buf[:8])^t)
			copy(r[i], buf[8:])
		}
	}
	out := append([]byte(nil), a...)
	for _, x := range r {
		out = append(out, x...)
	}
	return out
}

// marshalOrdered writes a JSON object with keys in the given order.
func marshalOrdered(kv ...interface{}) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv[i])
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			die("%v", err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func cmdProvisioner(args []string) {
	fs := flag.NewFlagSet("provisioner", flag.ExitOnError)
	name := fs.String("name", "", "provisioner name")
	pwFile := fs.String("password-file", "", "provisioner password file")
	p2c := fs.Int("p2c", 100000, "PBKDF2 iterations (step 0.19: 100000)")
	fs.Parse(args)
	if *name == "" || *pwFile == "" {
		die("provisioner: -name and -password-file are required")
	}
	password := readPassword(*pwFile)

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		die("%v", err)
	}
	x, y, d := b64.EncodeToString(pad32(priv.X)), b64.EncodeToString(pad32(priv.Y)), b64.EncodeToString(pad32(priv.D))

	// kid = RFC 7638 thumbprint: SHA-256 of the members crv,kty,x,y in
	// lexicographic order, no white space; base64url without padding.
	thumbInput := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, x, y)
	sum := sha256.Sum256([]byte(thumbInput))
	kid := b64.EncodeToString(sum[:])

	// Private JWK = JWE plaintext, field order as go-jose marshals it.
	privJWK := marshalOrdered("use", "sig", "kty", "EC", "kid", kid, "crv", "P-256", "alg", "ES256", "x", x, "y", y, "d", d)
	pubJWK := marshalOrdered("use", "sig", "kty", "EC", "kid", kid, "crv", "P-256", "alg", "ES256", "x", x, "y", y)

	// JWE compact: PBES2-HS256+A128KW key wrap, A256GCM content encryption.
	p2s := make([]byte, 16)
	cek := make([]byte, 32)
	iv := make([]byte, 12)
	for _, b := range [][]byte{p2s, cek, iv} {
		if _, err := rand.Read(b); err != nil {
			die("%v", err)
		}
	}
	const alg = "PBES2-HS256+A128KW"
	protected := marshalOrdered("alg", alg, "cty", "jwk+json", "enc", "A256GCM", "p2c", *p2c, "p2s", b64.EncodeToString(p2s))
	protectedB64 := b64.EncodeToString(protected)
	salt := append(append([]byte(alg), 0x00), p2s...)
	kek := pbkdf2.Key(password, salt, *p2c, 16, sha256.New)
	wrapped := aesKeyWrap(kek, cek)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	sealed := gcm.Seal(nil, iv, privJWK, []byte(protectedB64)) // AAD = ASCII(BASE64URL(header))
	ct, tag := sealed[:len(sealed)-16], sealed[len(sealed)-16:]
	jwe := strings.Join([]string{protectedB64, b64.EncodeToString(wrapped), b64.EncodeToString(iv),
		b64.EncodeToString(ct), b64.EncodeToString(tag)}, ".")

	// Cross-check with the libraries: the client side (certificates
	// ca/provisioner.go decryptProvisionerJWK) and the CA side (ca.json key).
	enc, err := jose.ParseEncrypted(jwe)
	if err != nil {
		die("cross-check: ParseEncrypted: %v", err)
	}
	plain, err := enc.Decrypt(password)
	if err != nil {
		die("cross-check: Decrypt: %v", err)
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(plain, &k); err != nil || !k.Valid() || k.IsPublic() {
		die("cross-check: private JWK: %v", err)
	}
	var pk jose.JSONWebKey
	if err := json.Unmarshal(pubJWK, &pk); err != nil || !pk.Valid() {
		die("cross-check: public JWK: %v", err)
	}
	if tp, err := jose.Thumbprint(&pk); err != nil || tp != kid || k.KeyID != kid {
		die("cross-check: thumbprint %s != kid %s (%v)", tp, kid, err)
	}

	out := fmt.Sprintf(`{"type":"JWK","name":%q,"key":%s,"encryptedKey":%q}`, *name, pubJWK, jwe)
	fmt.Println(out)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdOTT(args []string) {
	fs := flag.NewFlagSet("ott", flag.ExitOnError)
	provFile := fs.String("provisioners", "", "GET /provisioners response (JSON file)")
	name := fs.String("name", "", "provisioner name")
	pwFile := fs.String("password-file", "", "provisioner password file")
	aud := fs.String("aud", "", "audience, e.g. https://127.0.0.1:9000/1.0/sign")
	sub := fs.String("sub", "", "subject (certificate CN)")
	root := fs.String("root", "", "root certificate (adds the sha claim)")
	lifetime := fs.Duration("lifetime", 5*time.Minute, "token lifetime")
	kidOverride := fs.String("kid", "", "override the kid header (negative tests)")
	var sans multiFlag
	fs.Var(&sans, "san", "SAN (repeatable; default: sub)")
	fs.Parse(args)
	if *provFile == "" || *name == "" || *pwFile == "" || *aud == "" || *sub == "" {
		die("ott: -provisioners -name -password-file -aud -sub are required")
	}
	raw, err := os.ReadFile(*provFile)
	if err != nil {
		die("%v", err)
	}
	var list struct {
		Provisioners []struct {
			Type         string          `json:"type"`
			Name         string          `json:"name"`
			Key          json.RawMessage `json:"key"`
			EncryptedKey string          `json:"encryptedKey"`
		} `json:"provisioners"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		die("parse %s: %v", *provFile, err)
	}
	var encKey string
	var pub jose.JSONWebKey
	for _, p := range list.Provisioners {
		if p.Name == *name && strings.EqualFold(p.Type, "JWK") {
			encKey = p.EncryptedKey
			if err := json.Unmarshal(p.Key, &pub); err != nil {
				die("public key: %v", err)
			}
		}
	}
	if encKey == "" {
		die("no JWK provisioner %q with an encryptedKey", *name)
	}
	// Decrypt as step clients do (certificates ca/provisioner.go).
	enc, err := jose.ParseEncrypted(encKey)
	if err != nil {
		die("%v", err)
	}
	plain, err := enc.Decrypt(readPassword(*pwFile))
	if err != nil {
		die("decrypt encryptedKey: %v", err)
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(plain, &jwk); err != nil {
		die("%v", err)
	}
	priv, ok := jwk.Key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		die("provisioner key is %T, want P-256", jwk.Key)
	}
	kid := jwk.KeyID
	if kid != pub.KeyID {
		die("kid mismatch: encrypted %s vs public %s", kid, pub.KeyID)
	}
	if *kidOverride != "" {
		kid = *kidOverride
	}

	// Hand-built JWS compact token.
	jti := make([]byte, 32)
	rand.Read(jti)
	now := time.Now().Unix()
	if len(sans) == 0 {
		sans = multiFlag{*sub}
	}
	claims := []interface{}{"aud", *aud, "exp", now + int64(lifetime.Seconds()), "iat", now,
		"iss", *name, "jti", hex.EncodeToString(jti), "nbf", now, "sans", []string(sans)}
	if *root != "" {
		b, err := os.ReadFile(*root)
		if err != nil {
			die("%v", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			die("root: no PEM")
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			die("root: %v", err)
		}
		s := sha256.Sum256(blk.Bytes)
		claims = append(claims, "sha", hex.EncodeToString(s[:]))
	}
	claims = append(claims, "sub", *sub)
	header := marshalOrdered("alg", "ES256", "kid", kid, "typ", "JWT")
	signingInput := b64.EncodeToString(header) + "." + b64.EncodeToString(marshalOrdered(claims...))
	h := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
	if err != nil {
		die("%v", err)
	}
	sig := append(pad32(r), pad32(s)...) // JWS ES256: raw R||S, 64 bytes, not DER
	tok := signingInput + "." + b64.EncodeToString(sig)

	// Cross-check with go-jose as the CA does (provisioner/jwk.go authorizeToken).
	parsed, err := jose.ParseSigned(tok)
	if err != nil {
		die("cross-check: %v", err)
	}
	var c jose.Claims
	if err := parsed.Claims(&pub, &c); err != nil {
		die("cross-check: verify: %v", err)
	}
	fmt.Println(tok)
}

// cmdRenewToken builds the x5c-insecure token that POST /1.0/renew accepts as
// "Authorization: Bearer <token>" (authority/authorize.go AuthorizeRenewToken).
func cmdRenewToken(args []string) {
	fs := flag.NewFlagSet("renew-token", flag.ExitOnError)
	certFile := fs.String("cert", "", "leaf certificate (+ intermediates), PEM")
	keyFile := fs.String("key", "", "leaf private key, unencrypted PEM (EC P-256)")
	aud := fs.String("aud", "", "audience, e.g. https://127.0.0.1:9000/1.0/renew")
	fs.Parse(args)
	if *certFile == "" || *keyFile == "" || *aud == "" {
		die("renew-token: -cert -key -aud are required")
	}
	b, err := os.ReadFile(*certFile)
	if err != nil {
		die("%v", err)
	}
	var chain []string
	var leaf *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if leaf == nil {
			if leaf, err = x509.ParseCertificate(blk.Bytes); err != nil {
				die("%v", err)
			}
		}
		chain = append(chain, base64.StdEncoding.EncodeToString(blk.Bytes)) // std base64 DER, like JWS x5c
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		die("%v", err)
	}
	kblk, _ := pem.Decode(kb)
	if kblk == nil {
		die("key: no PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		if k, err = x509.ParseECPrivateKey(kblk.Bytes); err != nil {
			die("key: %v", err)
		}
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		die("key is %T, want EC", k)
	}
	jti := make([]byte, 32)
	rand.Read(jti)
	now := time.Now().Unix()
	header := marshalOrdered("alg", "ES256", "typ", "JWT", "x5cInsecure", chain)
	claims := marshalOrdered("aud", *aud, "exp", now+300, "iat", now, "iss", "step-ca-client/1.0",
		"jti", hex.EncodeToString(jti), "nbf", now, "sub", leaf.Subject.CommonName)
	signingInput := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	h := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
	if err != nil {
		die("%v", err)
	}
	fmt.Println(signingInput + "." + b64.EncodeToString(append(pad32(r), pad32(s)...)))
}

func cmdFreeport() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("%v", err)
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: stepca-tool provisioner|ott|renew-token|freeport ...")
	}
	switch os.Args[1] {
	case "provisioner":
		cmdProvisioner(os.Args[2:])
	case "ott":
		cmdOTT(os.Args[2:])
	case "renew-token":
		cmdRenewToken(os.Args[2:])
	case "freeport":
		cmdFreeport()
	default:
		die("unknown command %q", os.Args[1])
	}
}
