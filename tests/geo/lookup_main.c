// SPDX-License-Identifier: MIT
/* Stand-in for "ip_traffic_monitor_cli lookup" until main() dispatches to it.
 */
#include "geo.h"

int main(int argc, char **argv)
{
	return geo_lookup_main(argc, argv);
}
