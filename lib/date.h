/*
 * date.h: OneRoster's dates (YYYY-MM-DD) and date-times (ISO 8601), checked
 * as text: cl-filter's --as-of, cl-bundle's CSV cells, cl-fetch's --since.
 */
#ifndef CL_DATE_H
#define CL_DATE_H

#include <stddef.h>

/*
 * 0 when s (n bytes) is YYYY-MM-DD and a day that exists (year 0001 on);
 * else -1, and *why (when why is not NULL) says what is wrong.
 */
int cl_date_check(const char *s, size_t n, const char **why);

/*
 * 1 when s (n bytes) is YYYY-MM-DDTHH:MM:SS[.fff] on a day that exists,
 * then Z, or (any_zone) Z, +HH:MM or -HH:MM; else 0.
 */
int cl_datetime_ok(const char *s, size_t n, int any_zone);

#endif
