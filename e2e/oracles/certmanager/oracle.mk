# The cert-manager oracle: cert-manager's own Certificate validation as a
# binary (see _oracle/main.go). Included by e2e/e2e.mk after TOOLS_CACHE,
# TOOLS_ENV, TOOLS_GOFLAGS and CERT_MANAGER_VERSION are defined.
#
# The validation package is internal to cert-manager's root module, so the
# oracle is built inside a copy of that module's source: `go mod download`
# puts the exact release in the module cache (the cert-manager runner
# already needs it), the copy gets _oracle/main.go as meshcert-oracle/ and
# is built with cert-manager's own go.mod and go.sum, then removed. Keyed by
# the version and a hash of the oracle's source, so a warm build does
# nothing.

CM_ORACLE_SRC  := e2e/oracles/certmanager
CM_ORACLE_HASH := $(shell cat $(CM_ORACLE_SRC)/_oracle/main.go | sha256sum | cut -c1-12)
CM_ORACLE_DIR  := $(TOOLS_CACHE)/certmanager-oracle-$(CERT_MANAGER_VERSION)-$(CM_ORACLE_HASH)
CM_ORACLE      := $(CM_ORACLE_DIR)/certmanager-oracle

.PHONY: certmanager-oracle
certmanager-oracle: $(CM_ORACLE) ## Build the cert-manager oracle (cert-manager's Certificate validation) into TOOLS_CACHE (skips when built).

$(CM_ORACLE):
	rm -rf $(CM_ORACLE_DIR)/src
	mkdir -p $(CM_ORACLE_DIR)
	set -e; dir=$$($(GO) mod download -json github.com/cert-manager/cert-manager@$(CERT_MANAGER_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -n "$$dir"; cp -R "$$dir" $(CM_ORACLE_DIR)/src
	chmod -R u+w $(CM_ORACLE_DIR)/src
	mkdir -p $(CM_ORACLE_DIR)/src/meshcert-oracle
	cp $(CM_ORACLE_SRC)/_oracle/main.go $(CM_ORACLE_DIR)/src/meshcert-oracle/main.go
	cd $(CM_ORACLE_DIR)/src && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o ../certmanager-oracle.tmp ./meshcert-oracle
	rm -rf $(CM_ORACLE_DIR)/src
	mv $(CM_ORACLE_DIR)/certmanager-oracle.tmp $@
