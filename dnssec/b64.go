package dnssec

import "encoding/base64"

func fromBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
