// Package httpjson reads and writes the JSON bodies of AYA's admin API.
package httpjson

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// MaxBody bounds a request body.
const MaxBody = 1 << 20

// Read decodes r's body (at most MaxBody, no unknown fields) into v. On
// failure it answers 400 with the error and returns false.
func Read(w http.ResponseWriter, r *http.Request, v any) bool {
	return ReadLimit(w, r, v, MaxBody)
}

// ReadLimit is Read with a bound of limit bytes.
func ReadLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(w, http.StatusBadRequest, fmt.Sprintf("bad request body: %v", err))
		return false
	}
	return true
}

// Write answers status with v as indented JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error answers status with {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": msg})
}
