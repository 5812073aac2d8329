/** Sign-in: OAuth with the configured issuer, or a link from `thingiq console`. MFA refusals offer a step-up. */
import { ErrorBox } from '../components.tsx';
import { ApiError } from '../api.ts';

export function SignIn({ error }: { error: unknown }) {
  const needsMfa = error instanceof ApiError && error.code === 'TIQ_ERR_MFA_REQUIRED';
  return (
    <main class="sign-in" id="main">
      <h1>Sign in to the ThingIQ console</h1>
      <ErrorBox error={error} />
      {needsMfa && (
        <p class="step-up" role="status">
          Your role needs multi-factor authentication. <a class="button" href="/console/auth/login?stepUp=1">Sign in again with a second factor</a>
        </p>
      )}
      <p><a class="button" href="/console/auth/login">Sign in with your organisation</a></p>
      <p>On the gateway's machine, <code>thingiq console</code> prints a one-time link (valid 60 seconds).</p>
    </main>
  );
}
