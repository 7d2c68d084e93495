// zod/mini loads no message locale (classic zod sets English when it builds its first schema).
// Every module with a zod/mini schema whose messages reach a user imports this first: the messages
// zod words itself (load-spec's describeIssue passes some through; the checkpoint, saved plan and
// flow-api answers quote the first issue) stay the English ones.
import { config } from 'zod/mini';
import { en } from 'zod/locales';

config(en());
