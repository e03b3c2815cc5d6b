/* date.c: OneRoster's dates and date-times, checked as text (date.h). */
#include "date.h"

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
num(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int
cl_date_check(const char *s, size_t n, const char **why)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *w = NULL;
	int y, m, d, max;

	if (n != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2)) {
		w = "not a date of the form YYYY-MM-DD";
	} else {
		y = num(s, 4);
		m = num(s + 5, 2);
		d = num(s + 8, 2);
		max = m >= 1 && m <= 12 ? mdays[m - 1] : 0;
		if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
			max = 29;
		if (y < 1)
			w = "no year 0000";
		else if (m < 1 || m > 12)
			w = "no such month";
		else if (d < 1 || d > max)
			w = "no such day in that month";
	}
	if (w && why)
		*why = w;
	return w ? -1 : 0;
}

int
cl_datetime_ok(const char *s, size_t n, int any_zone)
{
	size_t i = 19;

	if (n < 20 || cl_date_check(s, 10, NULL) < 0 || s[10] != 'T' || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2) ||
	    num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
		return 0;
	if (s[i] == '.') {
		i++;
		if (i >= n || !digits(s + i, 1))
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i + 1 == n && s[i] == 'Z')
		return 1;
	return any_zone && i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) &&
	       s[i + 3] == ':' && digits(s + i + 4, 2);
}
