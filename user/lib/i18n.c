// SPDX-License-Identifier: MIT
#include "i18n.h"

#include <locale.h>
#include <stdlib.h>

#include "itm_version.h"

void i18n_init(void)
{
	/* A build tree's catalogs (build/po); see docs/ARCHITECTURE.md. */
	const char *dir = secure_getenv("ITM_LOCALEDIR");

	/*
	 * Not LC_ALL: LC_NUMERIC would turn "0.1" into "0,1" in some
	 * locales, for -s parsing and the metrics alike.
	 */
	setlocale(LC_CTYPE, "");
	setlocale(LC_MESSAGES, "");
	bindtextdomain(ITM_GETTEXT_PACKAGE, dir && *dir ? dir : ITM_LOCALEDIR);
	bind_textdomain_codeset(ITM_GETTEXT_PACKAGE, "UTF-8");
	textdomain(ITM_GETTEXT_PACKAGE);
}
