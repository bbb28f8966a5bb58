/*
 * Fuzz what the platforms say of files: a JSON document read as a
 * Mattermost post (its file_ids and metadata.files), a Slack event (its
 * files), files.getUploadURLExternal's, files.info's and
 * files.completeUploadExternal's answers, and file ops as sessiond sends
 * them.  Every URL kept must be one the token may go to, every name valid
 * UTF-8 and within its bound.  The raw bytes also go through the URL
 * check and the stored name of a file (sessiond/fpath.c), which must be
 * one safe path component.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/utf8.h"
#include "sessiond/fpath.h"
#include "worker/adapters/mattermost.h"
#include "worker/adapters/slack.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define API	"https://slack.com/api/"

static void
fuzz_check_files(const json_t *files, size_t max_name, int slack)
{
	const json_t	*f;
	const char	*name, *url;
	size_t		 i;

	json_array_foreach(files, i, f) {
		name = json_string_value(json_object_get(f, "name"));
		if (name == NULL || strlen(name) > max_name ||
		    !utf8_valid(name, strlen(name)))
			abort();
		url = json_string_value(json_object_get(f, "url"));
		if (slack && (url == NULL || (*url != '\0' &&
		    !slack_trusted_url(API, url))))
			abort();
	}
}

static void
fuzz_name(const char *s, size_t len)
{
	char	out[FPATH_NAME_MAX + 1];
	size_t	n;

	fpath_sanitize(s, len, out, sizeof(out));
	n = strlen(out);
	if (n == 0 || n > FPATH_NAME_MAX || !utf8_valid(out, n) ||
	    strchr(out, '/') != NULL || out[0] == '.')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slack_file_req	 sr;
	struct mm_file_req	 mr;
	const char		*url, *id;
	char			*s, err[256];
	json_t			*j, *f;

	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_name((const char *)data, size);
	(void)slack_trusted_url(API, s);
	(void)slack_trusted_url(s, "https://files.slack.com/x");
	free(s);
	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if ((f = mm_files(j)) != NULL) {
		if (json_array_size(f) > MM_FILES_MAX)
			abort();
		fuzz_check_files(f, MM_FILE_NAME_MAX, 0);
		json_decref(f);
	}
	if ((f = slack_files(j, API)) != NULL) {
		if (json_array_size(f) > SLACK_FILES_MAX)
			abort();
		fuzz_check_files(f, SLACK_FILE_NAME_MAX, 1);
		json_decref(f);
	}
	if (slack_upload_target(j, API, &url, &id) == 0 &&
	    !slack_trusted_url(API, url))
		abort();
	if ((url = slack_info_url(j, API)) != NULL &&
	    !slack_trusted_url(API, url))
		abort();
	(void)slack_upload_post(j, "C1");
	if (slack_file_request(j, API, &sr, err, sizeof(err)) == 0 &&
	    !sr.upload && *sr.url != '\0' && !slack_trusted_url(API, sr.url))
		abort();
	if (mm_file_request(j, &mr, err, sizeof(err)) == 0 &&
	    strstr(mr.path, "..") != NULL)
		abort();
	json_decref(j);
	return (0);
}
