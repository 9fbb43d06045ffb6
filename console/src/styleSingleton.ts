/**
 * Stands in for `react-style-singleton` (used by GraphiQL's dialogs and menus through Radix's
 * scroll lock): the original adds `<style>` elements, which the console's Content-Security-Policy
 * (style-src 'self', no inline styles) refuses. This one adds nothing; the rule it would have added
 * to lock the page's scrolling while a dialog is open is in styles.css (`body[data-scroll-locked]`).
 */

/** A component that would have added `styles` to the page. */
export const styleSingleton = () =>
  function StyleSingleton(_props: { styles: string; dynamic?: boolean }) {
    return null;
  };

/** A hook that would have added `styles` to the page. */
export const styleHookSingleton = () => (_styles: string, _isDynamic?: boolean) => undefined;

/** A sheet that would have held `styles`. */
export const stylesheetSingleton = () => ({ add: (_style: string) => undefined, remove: () => undefined });
