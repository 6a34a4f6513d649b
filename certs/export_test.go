package certs

// IsDNS1123Subdomain lets BenchmarkDNS1123Subdomain measure the hand-written
// check against apimachinery's.
var IsDNS1123Subdomain = isDNS1123Subdomain
