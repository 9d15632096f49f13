package tenancy

import (
	"errors"
	"fmt"
	"net/http"
)

// Codes of the authentication and authorization failures. Clients switch on
// them; they are part of the API.
const (
	CodeMissingKey        = "missing_api_key"
	CodeInvalidKey        = "invalid_api_key"
	CodeKeyRevoked        = "api_key_revoked"
	CodeKeyExpired        = "api_key_expired"
	CodeMissingScope      = "missing_scope"
	CodeTenantSuspended   = "tenant_suspended"
	CodeAddressNotAllowed = "address_not_allowed"
)

// AuthError says why a request was not authenticated (Status 401) or not
// authorized (Status 403). Revoked and expired keys are told apart from
// unknown ones: only the holder of a real key (whose hash matched) can see
// the difference, so it leaks nothing to a guesser.
type AuthError struct {
	Status  int
	Code    string
	Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

func authErr(status int, code, msg string) *AuthError {
	return &AuthError{Status: status, Code: code, Message: msg}
}

var (
	errMissingKey = authErr(http.StatusUnauthorized, CodeMissingKey, "send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`")
	errInvalidKey = authErr(http.StatusUnauthorized, CodeInvalidKey, "the API key is not valid")
	errRevoked    = authErr(http.StatusUnauthorized, CodeKeyRevoked, "the API key has been revoked")
	errExpired    = authErr(http.StatusUnauthorized, CodeKeyExpired, "the API key has expired")
	errSuspended  = authErr(http.StatusForbidden, CodeTenantSuspended, "the tenant of this API key is suspended")
	errAddress    = authErr(http.StatusForbidden, CodeAddressNotAllowed, "the API key may not be used from this address")
)

func errScope(need Scope) *AuthError {
	return authErr(http.StatusForbidden, CodeMissingScope, fmt.Sprintf("the API key lacks the %q scope", need))
}

// Errors of the store and the admin service.
var (
	ErrNotFound       = errors.New("not found")
	ErrTenantNotFound = fmt.Errorf("tenant %w", ErrNotFound)
	ErrKeyNotFound    = fmt.Errorf("api key %w", ErrNotFound)
	ErrTenantExists   = errors.New("tenant already exists")
	ErrNameTaken      = errors.New("tenant name already used by another tenant")
	ErrReservedTenant = errors.New("the operator tenant cannot be suspended")
)

// ValidationError is bad admin input; Field names the offending field (the
// JSON name, which is also the CLI flag's name with - for _).
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Code is the machine-readable code of the error: invalid_<field>.
func (e *ValidationError) Code() string { return "invalid_" + e.Field }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
