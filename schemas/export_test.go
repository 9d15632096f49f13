package schemas

// DecodeEventV1 exposes the event value decoder to the differential tests.
var DecodeEventV1 = decodeEventV1
