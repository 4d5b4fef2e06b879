// zod/mini has no error messages of its own; this gives it zod's English ones (those the classic API
// loads), so a bad option reads "Too big: expected number to be <=65535", not "Invalid input".

import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());
