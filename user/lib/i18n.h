/* SPDX-License-Identifier: MIT */
/*
 * Translations with gettext (po/): _("text") translates a message where it
 * is used, N_("text") only marks one kept in a table and translated later
 * with _(ptr).  Never wrap metric names, label names or values, flag names
 * or machine-readable output (CSV/TSV/JSON, /metrics).
 */
#ifndef ITM_I18N_H
#define ITM_I18N_H

#include <libintl.h>

#define _(s)  gettext(s)
#define N_(s) (s)

/*
 * Messages and character type from the environment (LC_MESSAGES,
 * LC_CTYPE only: numbers keep the C format), and the catalog from
 * $ITM_LOCALEDIR (ignored when privileged by setuid or file capabilities)
 * or the installed locale directory.
 */
void i18n_init(void);

#endif
