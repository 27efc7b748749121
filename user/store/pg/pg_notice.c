// SPDX-License-Identifier: MIT
/*
 * The server's notices (WARNING, NOTICE, ... sent outside any error: a
 * backend terminated by an administrator or by the crash of another one,
 * a RAISE in a function) go through the project's log like every other
 * message, one line each, at the level they carry.  libpq's default
 * processor would print them raw on stderr, several lines at times,
 * without our prefix or the journal's priority.
 */
#include <libpq-fe.h>
#include <string.h>

#include "log.h"
#include "pg_int.h"

/* Control characters (a DETAIL's line breaks) become spaces. */
static void flatten(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void add_field(char *buf, size_t len, const PGresult *r, int code,
		      const char *label)
{
	const char *v = PQresultErrorField(r, code);
	size_t used = strlen(buf);

	if (!v || !*v || used >= len)
		return;
	snprintf(buf + used, len - used, "%s%s%s", used ? " " : "", label, v);
}

enum pg_notice_level pg_notice_level(const char *severity)
{
	static const struct {
		const char *word;
		enum pg_notice_level level;
	} map[] = {
		{"PANIC", PG_NOTICE_ERROR}, {"FATAL", PG_NOTICE_ERROR},
		{"ERROR", PG_NOTICE_ERROR}, {"WARNING", PG_NOTICE_WARNING},
		{"NOTICE", PG_NOTICE_INFO}, {"INFO", PG_NOTICE_INFO},
		{"LOG", PG_NOTICE_DEBUG},   {"DEBUG", PG_NOTICE_DEBUG},
	};

	for (size_t i = 0; severity && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strncmp(severity, map[i].word, strlen(map[i].word)))
			return map[i].level;
	/* Unknown: a word of a newer server; say it rather than hide it. */
	return PG_NOTICE_WARNING;
}

static void receive(void *arg, const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	char msg[1024] = "";

	(void)arg;
	if (!sev)
		sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
	add_field(msg, sizeof(msg), r, PG_DIAG_MESSAGE_PRIMARY, "");
	add_field(msg, sizeof(msg), r, PG_DIAG_MESSAGE_DETAIL, "DETAIL: ");
	add_field(msg, sizeof(msg), r, PG_DIAG_MESSAGE_HINT, "HINT: ");
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
	flatten(msg);
	switch (pg_notice_level(sev)) {
	case PG_NOTICE_ERROR:
		pr_err(_("PostgreSQL server: %s\n"), msg);
		break;
	case PG_NOTICE_WARNING:
		pr_warn(_("PostgreSQL server: %s\n"), msg);
		break;
	case PG_NOTICE_INFO:
		pr_info(_("PostgreSQL server: %s\n"), msg);
		break;
	case PG_NOTICE_DEBUG:
		pr_debug("PostgreSQL server: %s\n", msg);
		break;
	}
}

void pg_log_notices(PGconn *c)
{
	if (c)
		PQsetNoticeReceiver(c, receive, NULL);
}
