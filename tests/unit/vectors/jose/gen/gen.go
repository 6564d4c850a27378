// Command gen writes the JOSE vectors that tests/unit/test_jose.c checks, using the Go code
// step-ca 0.19 and the step CLI run (go.step.sm/crypto/jose, gopkg.in/square/go-jose.v2,
// go.step.sm/cli-utils/token, github.com/smallstep/certificates), and checks what our C code
// (ours.c) produces against that same code.
//
//	gen -out DIR     writes DIR/pbes2.json, DIR/jwk.json, DIR/jws.json (random keys and salts:
//	                 every run gives new, equally valid vectors)
//	gen -check FILE  checks ours.json: step's decryption of our encryptedKey, step-ca's loading
//	                 of our provisioner and its authorization of our one-time token
//
// Build (Debian golang packages, no network): see run.sh.
package main

import (
	"context"
	"crypto/aes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/cli-utils/token"
	"go.step.sm/cli-utils/token/provision"
	stepjose "go.step.sm/crypto/jose"
	jose "gopkg.in/square/go-jose.v2"
	josecipher "gopkg.in/square/go-jose.v2/cipher"
)

// RFC 7517 Appendix C.8 (as go-jose's crypter_test.go TestPBES2JWKEncryption holds it): a JWK
// encrypted with PBES2-HS256+A128KW, p2c 4096, enc A128CBC-HS256.
const rfc7517Password = "Thus from my lips, by yours, my sin is purged."

const rfc7517AppendixC = "" +
	"eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJwMnMiOiIyV0NUY0paMVJ2ZF9DSnVKcmlwUTF3" +
	"IiwicDJjIjo0MDk2LCJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiY3R5IjoiandrK2pzb24ifQ.TrqXO" +
	"wuNUfDV9VPTNbyGvEJ9JMjefAVn-TR1uIxR9p6hsRQh9Tk7BA.Ye9j1qs22DmRSAddIh-VnA.Awh" +
	"B8lxrlKjFn02LGWEqg27H4Tg9fyZAbFv3p5ZicHpj64QyHC44qqlZ3JEmnZTgQowIqZJ13jbyHB8" +
	"LgePiqUJ1hf6M2HPLgzw8L-mEeQ0jvDUTrE07NtOerBk8bwBQyZ6g0kQ3DEOIglfYxV8-FJvNBYw" +
	"bqN1Bck6d_i7OtjSHV-8DIrp-3JcRIe05YKy3Oi34Z_GOiAc1EK21B11c_AE11PII_wvvtRiUiG8" +
	"YofQXakWd1_O98Kap-UgmyWPfreUJ3lJPnbD4Ve95owEfMGLOPflo2MnjaTDCwQokoJ_xplQ2vNP" +
	"z8iguLcHBoKllyQFJL2mOWBwqhBo9Oj-O800as5mmLsvQMTflIrIEbbTMzHMBZ8EFW9fWwwFu0DW" +
	"QJGkMNhmBZQ-3lvqTc-M6-gWA6D8PDhONfP2Oib2HGizwG1iEaX8GRyUpfLuljCLIe1DkGOewhKu" +
	"KkZh04DKNM5Nbugf2atmU9OP0Ldx5peCUtRG1gMVl7Qup5ZXHTjgPDr5b2N731UooCGAUqHdgGhg" +
	"0JVJ_ObCTdjsH4CF1SJsdUhrXvYx3HJh2Xd7CwJRzU_3Y1GxYU6-s3GFPbirfqqEipJDBTHpcoCm" +
	"yrwYjYHFgnlqBZRotRrS95g8F95bRXqsaDY7UgQGwBQBwy665d0zpvTasvfXf_c0MWAl-neFaKOW" +
	"_Px6g4EUDjG1GWSXV9cLStLw_0ovdApDIFLHYHePyagyHjouQUuGiq7BsYwYrwaF06tgB8hV8omL" +
	"NfMEmDPJaZUzMuHw6tBDwGkzD-tS_ub9hxrpJ4UsOWnt5rGUyoN2N_c1-TQlXxm5oto14MxnoAyB" +
	"QBpwIEgSH3Y4ZhwKBhHPjSo0cdwuNdYbGPpb-YUvF-2NZzODiQ1OvWQBRHSbPWYz_xbGkgD504LR" +
	"tqRwCO7CC_CyyURi1sEssPVsMJRX_U4LFEOc82TiDdqjKOjRUfKK5rqLi8nBE9soQ0DSaOoFQZiG" +
	"rBrqxDsNYiAYAmxxkos-i3nX4qtByVx85sCE5U_0MqG7COxZWMOPEFrDaepUV-cOyrvoUIng8i8l" +
	"jKBKxETY2BgPegKBYCxsAUcAkKamSCC9AiBxA0UOHyhTqtlvMksO7AEhNC2-YzPyx1FkhMoS4LLe" +
	"6E_pFsMlmjA6P1NSge9C5G5tETYXGAn6b1xZbHtmwrPScro9LWhVmAaA7_bxYObnFUxgWtK4vzzQ" +
	"BjZJ36UTk4OTB-JvKWgfVWCFsaw5WCHj6Oo4jpO7d2yN7WMfAj2hTEabz9wumQ0TMhBduZ-QON3p" +
	"YObSy7TSC1vVme0NJrwF_cJRehKTFmdlXGVldPxZCplr7ZQqRQhF8JP-l4mEQVnCaWGn9ONHlemc" +
	"zGOS-A-wwtnmwjIB1V_vgJRf4FdpV-4hUk4-QLpu3-1lWFxrtZKcggq3tWTduRo5_QebQbUUT_VS" +
	"CgsFcOmyWKoj56lbxthN19hq1XGWbLGfrrR6MWh23vk01zn8FVwi7uFwEnRYSafsnWLa1Z5TpBj9" +
	"GvAdl2H9NHwzpB5NqHpZNkQ3NMDj13Fn8fzO0JB83Etbm_tnFQfcb13X3bJ15Cz-Ww1MGhvIpGGn" +
	"MBT_ADp9xSIyAM9dQ1yeVXk-AIgWBUlN5uyWSGyCxp0cJwx7HxM38z0UIeBu-MytL-eqndM7Lxyt" +
	"sVzCbjOTSVRmhYEMIzUAnS1gs7uMQAGRdgRIElTJESGMjb_4bZq9s6Ve1LKkSi0_QDsrABaLe55U" +
	"Y0zF4ZSfOV5PMyPtocwV_dcNPlxLgNAD1BFX_Z9kAdMZQW6fAmsfFle0zAoMe4l9pMESH0JB4sJG" +
	"dCKtQXj1cXNydDYozF7l8H00BV_Er7zd6VtIw0MxwkFCTatsv_R-GsBCH218RgVPsfYhwVuT8R4H" +
	"arpzsDBufC4r8_c8fc9Z278sQ081jFjOja6L2x0N_ImzFNXU6xwO-Ska-QeuvYZ3X_L31ZOX4Llp" +
	"-7QSfgDoHnOxFv1Xws-D5mDHD3zxOup2b2TppdKTZb9eW2vxUVviM8OI9atBfPKMGAOv9omA-6vv" +
	"5IxUH0-lWMiHLQ_g8vnswp-Jav0c4t6URVUzujNOoNd_CBGGVnHiJTCHl88LQxsqLHHIu4Fz-U2S" +
	"GnlxGTj0-ihit2ELGRv4vO8E1BosTmf0cx3qgG0Pq0eOLBDIHsrdZ_CCAiTc0HVkMbyq1M6qEhM-" +
	"q5P6y1QCIrwg.0HFmhOzsQ98nNWJjIHkR7A"

// RFC 7638 §3.1: the example key and its thumbprint.
const rfc7638JWK = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
const rfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

const provisionerPassword = "etcd-ansible provisioner password"

type pbes2Vector struct {
	Name      string          `json:"name"`
	Source    string          `json:"source"`
	Compact   string          `json:"compact"`
	Password  string          `json:"password"`
	Plaintext string          `json:"plaintext"`
	Alg       string          `json:"alg"`
	Enc       string          `json:"enc"`
	P2C       int             `json:"p2c"`
	Kid       string          `json:"kid,omitempty"`
	PublicJWK json.RawMessage `json:"public_jwk,omitempty"`
}

type jwkVector struct {
	Name       string          `json:"name"`
	Source     string          `json:"source"`
	PrivateJWK json.RawMessage `json:"private_jwk,omitempty"`
	PublicJWK  json.RawMessage `json:"public_jwk"`
	Thumbprint string          `json:"thumbprint"`
}

type jwsVector struct {
	Name      string          `json:"name"`
	Source    string          `json:"source"`
	Token     string          `json:"token"`
	Header    string          `json:"header"`
	PublicJWK json.RawMessage `json:"public_jwk"`
	Claims    json.RawMessage `json:"claims"`
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "gen: check failed: "+format+"\n", args...)
		os.Exit(1)
	}
}

func marshal(v interface{}) json.RawMessage {
	b, err := json.Marshal(v)
	must(err, "json")
	return b
}

// decryptHeader returns the protected header of a compact JWE, as JSON text.
func protectedHeader(compact string) map[string]interface{} {
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(compact, ".", 2)[0])
	must(err, "header base64")
	var h map[string]interface{}
	must(json.Unmarshal(b, &h), "header json")
	return h
}

// goJoseVector encrypts plaintext with go-jose's own encrypter (crypter.go NewEncrypter).
func goJoseVector(name string, alg jose.KeyAlgorithm, enc jose.ContentEncryption, p2c int,
	password, plaintext string) pbes2Vector {
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: []byte(password),
		PBES2Count: p2c}, nil)
	must(err, name)
	obj, err := e.Encrypt([]byte(plaintext))
	must(err, name)
	compact, err := obj.CompactSerialize()
	must(err, name)
	return pbes2Vector{Name: name, Source: "go-jose v2.6.0 NewEncrypter", Compact: compact,
		Password: password, Plaintext: plaintext, Alg: string(alg), Enc: string(enc), P2C: p2c}
}

// stepProvisionerVector is what `step ca init` writes for a JWK provisioner:
// certificates pki/pki.go calls jose.GenerateDefaultKeyPair, then CompactSerialize.
func stepProvisionerVector() (pbes2Vector, *stepjose.JSONWebKey) {
	pub, jwe, err := stepjose.GenerateDefaultKeyPair([]byte(provisionerPassword))
	must(err, "GenerateDefaultKeyPair")
	compact, err := jwe.CompactSerialize()
	must(err, "CompactSerialize")
	plain, err := stepjose.Decrypt([]byte(compact), stepjose.WithPassword([]byte(provisionerPassword)))
	must(err, "Decrypt")
	priv, err := stepjose.ParseKey(plain)
	must(err, "ParseKey")
	h := protectedHeader(compact)
	return pbes2Vector{Name: "step-provisioner-key",
		Source:  "go.step.sm/crypto v0.24.0 jose.GenerateDefaultKeyPair (certificates pki/pki.go)",
		Compact: compact, Password: provisionerPassword, Plaintext: string(plain),
		Alg: h["alg"].(string), Enc: h["enc"].(string), P2C: int(h["p2c"].(float64)),
		Kid: pub.KeyID, PublicJWK: marshal(pub)}, priv
}

func rfc7517Vector() pbes2Vector {
	obj, err := jose.ParseEncrypted(rfc7517AppendixC)
	must(err, "RFC 7517 C parse")
	plain, err := obj.Decrypt([]byte(rfc7517Password))
	must(err, "RFC 7517 C decrypt")
	return pbes2Vector{Name: "rfc7517-appendix-c", Source: "RFC 7517 Appendix C.8 (go-jose crypter_test.go)",
		Compact: rfc7517AppendixC, Password: rfc7517Password, Plaintext: string(plain),
		Alg: "PBES2-HS256+A128KW", Enc: "A128CBC-HS256", P2C: 4096}
}

func pbes2Vectors() ([]pbes2Vector, *stepjose.JSONWebKey) {
	step, key := stepProvisionerVector()
	return []pbes2Vector{
		step,
		rfc7517Vector(),
		goJoseVector("go-jose-hs384-a192gcm", jose.PBES2_HS384_A192KW, jose.A192GCM, 1000,
			"p\u00e4ssw\u00f6rd \u2713", `{"kty":"oct","k":"c2VjcmV0"}`),
		goJoseVector("go-jose-hs512-a128gcm", jose.PBES2_HS512_A256KW, jose.A128GCM, 2000,
			"another password", "plain text, not JSON"),
		goJoseVector("go-jose-hs256-a128cbc-hs256", jose.PBES2_HS256_A128KW, jose.A128CBC_HS256, 1000,
			"cbc password", "sixteen bytes!!!"),
		goJoseVector("go-jose-hs512-a256cbc-hs512", jose.PBES2_HS512_A256KW, jose.A256CBC_HS512, 1000,
			"cbc password 2", "x"),
		goJoseVector("go-jose-p2c-999", jose.PBES2_HS256_A128KW, jose.A256GCM, 999,
			"low count", "refused: p2c below the bound"),
	}, key
}

// A P-256 key whose x has a leading zero byte: its JWK needs the left padding.
func shortP256() *stepjose.JSONWebKey {
	for {
		jwk, err := stepjose.GenerateJWK("EC", "P-256", "ES256", "sig", "", 0)
		must(err, "GenerateJWK")
		if len(jwk.Key.(*ecdsa.PrivateKey).X.Bytes()) < 32 {
			return jwk
		}
	}
}

func newJWKVector(name string, jwk *stepjose.JSONWebKey) jwkVector {
	tp, err := stepjose.Thumbprint(jwk)
	must(err, name)
	check(tp == jwk.KeyID, "%s: kid %s != thumbprint %s", name, jwk.KeyID, tp)
	pub := jwk.Public()
	return jwkVector{Name: name, Source: "go.step.sm/crypto v0.24.0 jose.GenerateJWK, jose.Thumbprint",
		PrivateJWK: marshal(jwk), PublicJWK: marshal(&pub), Thumbprint: tp}
}

func jwkVectors() []jwkVector {
	var out []jwkVector
	out = append(out, newJWKVector("ec-p256-short-x", shortP256()))
	for _, c := range []struct{ kty, crv, alg string }{
		{"EC", "P-256", "ES256"}, {"EC", "P-384", "ES384"}, {"EC", "P-521", "ES512"},
		{"OKP", "Ed25519", "EdDSA"},
	} {
		jwk, err := stepjose.GenerateJWK(c.kty, c.crv, c.alg, "sig", "", 0)
		must(err, c.crv)
		out = append(out, newJWKVector(strings.ToLower(c.kty+"-"+c.crv), jwk))
	}
	var rsa jose.JSONWebKey
	must(json.Unmarshal([]byte(rfc7638JWK), &rsa), "RFC 7638 JWK")
	tp, err := stepjose.Thumbprint(&rsa)
	must(err, "RFC 7638 thumbprint")
	check(tp == rfc7638Thumbprint, "RFC 7638: go-jose says %s", tp)
	return append(out, jwkVector{Name: "rfc7638-rsa", Source: "RFC 7638 §3.1, confirmed by go-jose",
		PublicJWK: json.RawMessage(rfc7638JWK), Thumbprint: tp})
}

// stepToken is what ca/provisioner.go Provisioner.Token signs for `step ca certificate`.
func stepToken(key *stepjose.JSONWebKey) jwsVector {
	now := time.Now()
	jti := strings.Repeat("0123456789abcdef", 4)
	tok, err := provision.New("node1.example.com",
		token.WithJWTID(jti), token.WithKid(key.KeyID), token.WithIssuer("etcd-ansible"),
		token.WithAudience("https://ca.example.com:9000/1.0/sign"),
		token.WithValidity(now, now.Add(5*time.Minute)),
		token.WithSANS([]string{"node1.example.com", "10.0.0.1"}),
		token.WithSHA("5a2b3c"))
	must(err, "provision.New")
	signed, err := tok.SignedString(key.Algorithm, key.Key)
	must(err, "SignedString")
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(signed, ".")[0])
	must(err, "token header")
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(signed, ".")[1])
	must(err, "token payload")
	pub := key.Public()
	return jwsVector{Name: "step-provisioner-token",
		Source: "go.step.sm/cli-utils v0.7.5 token/provision (certificates ca/provisioner.go Token)",
		Token:  signed, Header: string(header), PublicJWK: marshal(&pub), Claims: payload}
}

func writeJSON(dir, name string, v interface{}) {
	b, err := json.MarshalIndent(v, "", "  ")
	must(err, name)
	must(os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644), name)
}

// RFC 3394 §4.1 through go-jose's own key wrap, so the C test's constants are confirmed twice.
func checkKeyWrap() {
	kek, _ := hex.DecodeString("000102030405060708090A0B0C0D0E0F")
	key, _ := hex.DecodeString("00112233445566778899AABBCCDDEEFF")
	block, err := aes.NewCipher(kek)
	must(err, "aes")
	out, err := josecipher.KeyWrap(block, key)
	must(err, "KeyWrap")
	check(strings.ToUpper(hex.EncodeToString(out)) == "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
		"RFC 3394 4.1: %x", out)
}

func generate(dir string) {
	checkKeyWrap()
	pbes2, key := pbes2Vectors()
	writeJSON(dir, "pbes2.json", pbes2)
	writeJSON(dir, "jwk.json", jwkVectors())
	writeJSON(dir, "jws.json", []jwsVector{stepToken(key)})
}

// What ours.c prints.
type ours struct {
	Password     string          `json:"password"`
	EncryptedKey string          `json:"encrypted_key"`
	PublicJWK    json.RawMessage `json:"public_jwk"`
	Kid          string          `json:"kid"`
	Name         string          `json:"name"`
	Audience     string          `json:"audience"`
	Token        string          `json:"token"`
}

// checkEncryptedKey: the header step writes, then the steps of certificates ca/provisioner.go
// decryptProvisionerJWK (what `step ca token` runs on GET /provisioners' encryptedKey).
func checkEncryptedKey(o *ours) {
	h := protectedHeader(o.EncryptedKey)
	p2s, _ := base64.RawURLEncoding.DecodeString(h["p2s"].(string))
	check(h["alg"] == "PBES2-HS256+A128KW" && h["enc"] == "A256GCM" && h["cty"] == "jwk+json" &&
		h["p2c"] == float64(stepjose.PBKDF2Iterations) && len(p2s) == stepjose.PBKDF2SaltSize &&
		len(h) == 5, "encrypted key header %v", h)
	enc, err := stepjose.ParseEncrypted(o.EncryptedKey)
	must(err, "ParseEncrypted(ours)")
	data, err := enc.Decrypt([]byte(o.Password))
	must(err, "Decrypt(ours)")
	jwk := new(stepjose.JSONWebKey)
	must(json.Unmarshal(data, jwk), "Unmarshal(our JWK)")
	check(!jwk.IsPublic() && jwk.Valid(), "our JWK is not a valid private key")
	tp, err := stepjose.Thumbprint(jwk)
	must(err, "Thumbprint(ours)")
	check(tp == o.Kid && jwk.KeyID == o.Kid, "kid %q, thumbprint %q, JWK kid %q", o.Kid, tp, jwk.KeyID)
	_, err = stepjose.Decrypt([]byte(o.EncryptedKey), stepjose.WithPassword([]byte("wrong")))
	check(err != nil, "wrong password accepted")
	fmt.Println("ok: step decrypts our encryptedKey; header, kid and JWK as step writes them")
}

// checkToken: ca.json's provisioner list as step-ca loads it, then the authority's
// LoadByToken and the JWK provisioner's AuthorizeSign.
func checkToken(o *ours) {
	entry := map[string]interface{}{"type": "JWK", "name": o.Name, "key": o.PublicJWK,
		"encryptedKey": o.EncryptedKey}
	var list provisioner.List
	must(json.Unmarshal(marshal([]interface{}{entry}), &list), "provisioner.List")
	p := list[0]
	audiences := provisioner.Audiences{Sign: []string{"https://ca.example.com/1.0/sign",
		"https://ca.example.com/sign"}}
	must(p.Init(provisioner.Config{Claims: config.GlobalProvisionerClaims, Audiences: audiences}),
		"provisioner Init")
	kid, encrypted, ok := p.GetEncryptedKey()
	check(ok && kid == o.Kid && encrypted == o.EncryptedKey, "GetEncryptedKey")
	c := provisioner.NewCollection(audiences)
	must(c.Store(p), "Collection.Store")
	tok, err := stepjose.ParseSigned(o.Token)
	must(err, "ParseSigned(our token)")
	var claims stepjose.Claims
	must(tok.UnsafeClaimsWithoutVerification(&claims), "claims")
	found, ok := c.LoadByToken(tok, &claims)
	check(ok && found.GetID() == p.GetID(), "LoadByToken did not find our provisioner")
	_, err = p.AuthorizeSign(context.Background(), o.Token)
	must(err, "AuthorizeSign(our token)")
	fmt.Println("ok: step-ca loads our provisioner and authorizes our token (AuthorizeSign)")
}

func main() {
	out := flag.String("out", "", "directory to write the vectors into")
	checkFile := flag.String("check", "", "ours.json to check")
	flag.Parse()
	switch {
	case *out != "":
		generate(*out)
	case *checkFile != "":
		b, err := os.ReadFile(*checkFile)
		must(err, *checkFile)
		var o ours
		must(json.Unmarshal(b, &o), *checkFile)
		checkEncryptedKey(&o)
		checkToken(&o)
	default:
		flag.Usage()
		os.Exit(2)
	}
}
