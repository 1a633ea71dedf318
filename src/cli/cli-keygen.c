/*
 * chorus keygen: prints a new network key, base64 of 32 random bytes, for a
 * keyring file (chorusd --keyring FILE: one key a line, the first primary).
 * It talks to no node.
 */
#include "config.h"

#include <stdio.h>

#include <sodium.h>

#include "chorus/limits.h"
#include "cli.h"

static int cli_keygen_exec(const struct cli_ctx *ctx, const struct cli_args *args);

const struct cli_cmd_entry cli_keygen_entry = {
	.name = "keygen",
	.args_usage = "",
	.summary = "print a new network key (for chorusd --keyring)",
	.options = NULL,
	.options_help = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cli_keygen_exec,
};

static int cli_keygen_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	uint8_t key[CHORUS_NETKEY_BYTES];
	char b64[sodium_base64_ENCODED_LEN(CHORUS_NETKEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];

	(void)ctx;
	(void)args;
	if (sodium_init() < 0) {
		cli_error("libsodium failed to initialise");
		return CLI_EXIT_USAGE;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(key, sizeof(key));
	printf("%s\n", b64);
	sodium_memzero(b64, sizeof(b64));
	return CLI_EXIT_OK;
}
