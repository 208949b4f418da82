# How `sam build` builds each function (template.yaml: BuildMethod makefile, BuildInSource). SAM runs
# `make build-<LogicalId>` with ARTIFACTS_DIR set; each target builds one binary of functions/ for arm64 with the
# Lambda profile (whole-program LTO, stripped; see Cargo.toml) and copies it there as `bootstrap`.
#
# Needs cargo-lambda (`pip install cargo-lambda`, which brings zig to cross-compile).

CARGO_LAMBDA_BUILD ?= cargo lambda build --profile lambda-release --arm64

define lambda_binary
	$(CARGO_LAMBDA_BUILD) --bin $(1)
	mkdir -p "$(ARTIFACTS_DIR)"
	cp target/lambda/$(1)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"
endef

.PHONY: build-PostApiFunction build-OAuthCallbackFunction build-DataDeletionFunction \
	build-DispatcherFunction build-PublisherFunction build-TokenRefresherFunction

build-PostApiFunction:
	$(call lambda_binary,post-api)

build-OAuthCallbackFunction:
	$(call lambda_binary,oauth-callback)

build-DataDeletionFunction:
	$(call lambda_binary,data-deletion)

build-DispatcherFunction:
	$(call lambda_binary,dispatcher)

build-PublisherFunction:
	$(call lambda_binary,publisher)

build-TokenRefresherFunction:
	$(call lambda_binary,token-refresher)
