package peerid

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// DeploymentID derives a deployment's short stable name from its CA's
// public key; the CA carries it as its subject O, and so does every
// certificate it issues.
func DeploymentID(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("deployment id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

// IsDeploymentCA reports whether cert is an Airlock deployment's CA: a CA
// whose single subject O is the deployment ID of its own key. A client
// given such a CA knows that the server's certificate must carry a role;
// a public CA's certificates carry none.
func IsDeploymentCA(cert *x509.Certificate) bool {
	if cert == nil || !cert.IsCA || len(cert.Subject.Organization) != 1 {
		return false
	}
	id, err := DeploymentID(cert.PublicKey)
	return err == nil && cert.Subject.Organization[0] == id
}
