package kubelet

import (
	"fmt"
	"os"
	"time"

	apiserverapi "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/kubernetes"
)

// Kubelet defaults (KubeletConfiguration authentication.webhook.cacheTTL and
// authorization.webhook.cacheAuthorizedTTL / cacheUnauthorizedTTL).
const (
	AuthnCacheTTL        = 2 * time.Minute
	AuthzAllowedCacheTTL = 5 * time.Minute
	AuthzDeniedCacheTTL  = 30 * time.Second
)

// NewWebhookAuth builds the authenticator and authorizer of a kubelet in
// webhook mode with the same apiserver libraries the kubelet uses: x509
// client certificates against clientCAFile, bearer tokens through
// TokenReview, anonymous off, and SubjectAccessReview for authorization, each
// cached with the kubelet's default TTLs. One instance serves every node, so
// the caches are shared and thousands of nodes do not multiply API calls.
func NewWebhookAuth(client kubernetes.Interface, clientCAFile string) (Auth, error) {
	caPEM, err := os.ReadFile(clientCAFile)
	if err != nil {
		return Auth{}, fmt.Errorf("client CA: %w", err)
	}
	ca, err := dynamiccertificates.NewStaticCAContent("client-ca-bundle", caPEM)
	if err != nil {
		return Auth{}, fmt.Errorf("client CA: %w", err)
	}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                          &apiserverapi.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                           AuthnCacheTTL,
		ClientCertificateCAContentProvider: ca,
		TokenAccessReviewClient:            client.AuthenticationV1(),
		WebhookRetryBackoff:                genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
	if err != nil {
		return Auth{}, fmt.Errorf("authenticator: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             AuthzAllowedCacheTTL,
		DenyCacheTTL:              AuthzDeniedCacheTTL,
		WebhookRetryBackoff:       genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
	if err != nil {
		return Auth{}, fmt.Errorf("authorizer: %w", err)
	}
	return Auth{Authenticator: authn, Authorizer: authz}, nil
}
