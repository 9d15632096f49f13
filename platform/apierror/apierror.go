// Package apierror is the one error shape every PulseStream HTTP API answers
// with: {"error": {"code": "...", "message": "..."}}. Code is stable and
// machine-readable (clients switch on it); message is for humans.
package apierror

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Body is the JSON error envelope.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is one error: a stable code, a human message, and optionally the
// request parameter it is about.
type Detail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Parameter string `json:"parameter,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
}

// Error is an API error a handler can return; Status is the HTTP status.
type Error struct {
	Status int
	Detail
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an API error.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Detail: Detail{Code: code, Message: message}}
}

// BadParameter is a 400 naming the offending query or path parameter.
func BadParameter(param, code, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Detail: Detail{Code: code, Message: message, Parameter: param}}
}

// Abort writes err and stops the gin handler chain.
func Abort(c *gin.Context, err *Error) {
	c.AbortWithStatusJSON(err.Status, Body{Error: err.Detail})
}

// Write writes err with net/http.
func Write(w http.ResponseWriter, err *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(err.Status)
	_, _ = w.Write(mustJSON(Body{Error: err.Detail}))
}

// TextParameter refuses a text parameter PostgreSQL cannot hold as text (a
// NUL character or invalid UTF-8: a query with it would fail, a 500) with
// 400 invalid_parameter naming it; nil when v is fine.
func TextParameter(param, v string) *Error {
	if utf8.ValidString(v) && strings.IndexByte(v, 0) < 0 {
		return nil
	}
	return BadParameter(param, "invalid_parameter", param+" must be valid UTF-8 without NUL characters")
}
